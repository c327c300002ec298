"""Scheduled backups of the SQLite namespace (dfs.namenode.backup), run synchronously on a fake clock: a backup is a
whole, checked copy; the namespace holds every block a kept backup names, with history off; the holds follow the
files in the directory."""

import os
import shutil
import sqlite3

import pytest
import pytest_twisted
from treq.testing import StubTreq
from twisted.internet.task import Clock
from twisted.python.usage import UsageError

from test_metadata import result

from dfs.errors import FileNotFound
from dfs.namenode.backup import Backups, kept_backups, taken_at
from dfs.namenode.namespace.history import PRESENT
from dfs.namenode.namespace.migrate import Refused
from dfs.namenode.namespace.model import Extent
from dfs.namenode.namespace.sqlite import SQLiteNamespace
from dfs.namenode.namespace.sqlite_backup import holds_of, restore
from dfs.namenode.tap import NamenodeOptions, scheduled_backups

A, B, C = "a" * 64, "b" * 64, "c" * 64


@pytest.fixture
def store(tmp_path):
    store = SQLiteNamespace(str(tmp_path / "ns.sqlite"))
    store.start()
    store.history_retention = 0.0  # history off: only the backups' holds keep deleted blocks
    result(store.create("/f", [Extent(A, 0, 10, 10)], overwrite=False))
    result(store.create("/g", [Extent(B, 0, 5, 5)], overwrite=False))
    yield store
    store.stop()


def backups_of(store, tmp_path, keep=2, interval=0.0, clock=None):
    backups = Backups(store, str(tmp_path / "backups"), keep, interval, clock or Clock())
    backups.reconcile()
    return backups


def test_a_backup_is_a_checked_copy_that_reads_back(store, tmp_path):
    backups = backups_of(store, tmp_path)
    taken = result(backups.take())
    path = os.path.join(backups.directory, taken["name"])
    assert os.listdir(backups.directory) == [taken["name"]]  # no temporary file, no journal left
    assert taken["bytes"] == os.path.getsize(path) > 0
    assert abs(taken_at(taken["name"]) - taken["at"]) < 0.002
    copy = SQLiteNamespace(path)
    copy.open()
    try:
        assert result(copy.stat("/f"))[1] == [Extent(A, 0, 10, 10)]
        assert result(copy.integrity_check()) == "ok"
    finally:
        copy.stop()


def test_gc_keeps_what_a_kept_backup_names_and_frees_it_when_the_backup_goes(store, tmp_path):
    backups = backups_of(store, tmp_path, keep=1)
    first = result(backups.take())["name"]
    result(store.delete("/f", recursive=False))
    result(store.create("/h", [Extent(C, 0, 3, 3)], overwrite=False))
    result(store.delete("/h", recursive=False))  # born and gone after the backup: not held
    result(store.trim_history())
    assert set(result(store.collectable([A, C], 0))) == {C}
    assert A in result(store.block_targets())  # kept at its replication too
    second = result(backups.take())["name"]
    assert kept_backups(backups.directory) == [second]
    assert list(result(store.backup_holds())) == [second]
    assert first != second
    assert set(result(store.collectable([A, C], 0))) == {A, C}


def test_the_holds_follow_the_files_at_start(store, tmp_path):
    backups = backups_of(store, tmp_path, keep=3)
    kept = result(backups.take())["name"]
    gone = result(backups.take())["name"]
    os.remove(os.path.join(backups.directory, gone))  # removed by hand
    result(store.hold_for_backup("namespace-20000101T000000.000Z.sqlite3"))  # a backup a crash interrupted
    open(os.path.join(backups.directory, "x.partial"), "w").close()
    elsewhere = tmp_path / "restored.sqlite3"
    shutil.copy(os.path.join(backups.directory, kept), elsewhere)
    with sqlite3.connect(elsewhere) as db:  # a restored namespace: the copy's own hold as it was while it ran
        assert db.execute("SELECT upto FROM backup_holds WHERE backup = ?", (kept,)).fetchone()[0] == PRESENT
    restored = SQLiteNamespace(str(elsewhere))
    restored.open()
    try:
        for namespace in (store, restored):
            again = backups_of(namespace, tmp_path, keep=3)
            assert result(namespace.backup_holds()) == {kept: holds_of(os.path.join(backups.directory, kept))}
            assert again.last["name"] == kept and again.last["bytes"] > 0
        assert os.listdir(backups.directory) == [kept]
    finally:
        restored.stop()


def test_a_failed_backup_is_counted_and_holds_nothing(store, tmp_path):
    backups = backups_of(store, tmp_path)
    shutil.rmtree(backups.directory)
    with pytest.raises(sqlite3.OperationalError):
        result(backups.take())
    assert (backups.failures, backups.last) == (1, None)
    assert "unable to open" in backups.describe()["last_failure"]["error"]
    assert result(store.backup_holds()) == {}


def test_backups_are_taken_every_interval_from_the_newest(store, tmp_path):
    clock = Clock()
    backups = backups_of(store, tmp_path, keep=5, interval=3600, clock=clock)
    backups.start()
    try:
        clock.advance(0)
        assert len(kept_backups(backups.directory)) == 1  # none yet: one at once
        clock.advance(3599)
        assert len(kept_backups(backups.directory)) == 1
        clock.advance(1)
        assert len(kept_backups(backups.directory)) == 2
    finally:
        backups.stop()
    later = backups_of(store, tmp_path, keep=5, interval=3600, clock=Clock())
    later.start()  # a restart waits for the interval since the newest backup
    try:
        assert 3500 < later._timer.getTime() <= 3600
    finally:
        later.stop()


def test_a_restore_checks_the_backup_refuses_a_running_namenode_and_keeps_the_old_database(store, tmp_path):
    backups = backups_of(store, tmp_path)
    backup = os.path.join(backups.directory, result(backups.take())["name"])
    result(store.claim_leadership("restarted", 10))
    result(store.claim_leadership("restarted again", 10))  # epoch 2: datanodes saw deletes of it
    result(store.delete("/f", recursive=False))
    bad = tmp_path / "bad.sqlite3"
    bad.write_bytes(b"not a database" * 100)
    with pytest.raises(Refused, match="integrity check"):
        restore(str(bad), store.db_path)
    with pytest.raises(Refused, match="stop the namenode"):
        restore(backup, store.db_path)  # the store has it open
    store.stop()
    assert restore(backup, store.db_path, now=0) == store.db_path + ".replaced-19700101T000000Z"
    assert not os.path.exists(store.db_path + ".restoring")
    restored = SQLiteNamespace(store.db_path)
    restored.open()
    try:
        assert result(restored.stat("/f"))[1] == [Extent(A, 0, 10, 10)]
        assert result(restored.claim_leadership("the next namenode", 10)) == 3  # newer than any the datanodes saw
    finally:
        restored.stop()
    replaced = SQLiteNamespace(store.db_path + ".replaced-19700101T000000Z")
    replaced.open()
    try:
        with pytest.raises(FileNotFound):
            result(replaced.stat("/f"))
    finally:
        replaced.stop()


def test_the_backup_options():
    options = NamenodeOptions()
    options.parseOptions(["--backup-dir", "/b", "--backup-interval", "30m", "--backup-keep", "3"])
    assert (options["backup-dir"], options["backup-interval"], options["backup-keep"]) == ("/b", 1800, 3)
    with pytest.raises(UsageError, match="PostgreSQL with its own tools"):
        NamenodeOptions().parseOptions(["--backup-dir", "/b", "--db-url", "postgresql://nn/dfs"])
    with pytest.raises(UsageError, match="--backup-keep 1 or more"):
        NamenodeOptions().parseOptions(["--backup-dir", "/b", "--backup-keep", "0"])


@pytest_twisted.ensureDeferred
async def test_a_backup_on_request_and_its_status(namenode_app, tmp_path):
    http = StubTreq(namenode_app.resource())
    response = await http.post("http://nn/cluster/backup")
    assert response.code == 400 and "--backup-dir" in (await response.json())["RemoteException"]["message"]
    namenode_app.backups = backups_of(namenode_app.store, tmp_path)
    response = await http.post("http://nn/cluster/backup")
    taken = await response.json()
    assert response.code == 200 and os.listdir(namenode_app.backups.directory) == [taken["name"]]
    status = await (await http.get("http://nn/cluster")).json()
    assert status["backup"]["last"] == taken and status["backup"]["kept"] == 1


def test_without_a_backup_directory_no_backup_holds_a_block(namespace, namespace_location):
    """A namespace migrated from SQLite to PostgreSQL, or a namenode started without --backup-dir: the holds go."""
    result(namespace.hold_for_backup("namespace-20000101T000000.000Z.sqlite3"))
    options = {"db-url": namespace_location if namespace_location.startswith("postgresql") else None}
    assert scheduled_backups(namespace, None, options) is None
    assert result(namespace.backup_holds()) == {}
