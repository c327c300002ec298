"""Versioned schemas: a new database gets every version, one from today's release is upgraded keeping every row
(and every inode id), one from a newer release is refused untouched."""

import inspect
import sqlite3

import pytest

from test_metadata import result

from dfs.namenode.namespace import schema
from dfs.namenode.namespace.interface import Namespace
from dfs.namenode.namespace.model import Extent
from dfs.namenode.namespace.sqlite import SQLiteNamespace

A, B = "a" * 64, "b" * 64
# A namespace as today's release stored it: /d/f (two blocks), /d/e/empty, /g (a block shared with /d/f).
VERSION_1_ROWS = """
INSERT INTO meta VALUES ('cluster_id', 'c0ffee');
INSERT INTO inodes VALUES (1, 0, '', 'DIRECTORY', 0, 493, 'dfs', 'supergroup', 100, 100, 0, 0);
INSERT INTO inodes VALUES (2, 1, 'd', 'DIRECTORY', 0, 493, 'ann', 'staff', 101, 101, 0, 0);
INSERT INTO inodes VALUES (5, 2, 'f', 'FILE', 15, 420, 'ann', 'staff', 102, 103, 2, 10);
INSERT INTO inodes VALUES (7, 2, 'e', 'DIRECTORY', 0, 448, 'bob', 'staff', 104, 104, 0, 0);
INSERT INTO inodes VALUES (8, 7, 'empty', 'FILE', 0, 416, 'bob', 'staff', 105, 105, 3, 64);
INSERT INTO inodes VALUES (9, 1, 'g', 'FILE', 4, 420, 'dfs', 'supergroup', 106, 107, 1, 10);
INSERT INTO blocks (id, size) VALUES ('{A}', 10), ('{B}', 5);
INSERT INTO extents VALUES (5, 0, '{A}', 0, 10), (5, 1, '{B}', 0, 5), (9, 0, '{A}', 3, 4);
INSERT INTO pins VALUES ('{B}', 'owner', 1e12);
INSERT INTO datanodes VALUES ('n1', 'http://n1:9000');
""".format(A=A, B=B)


def versions(path):
    db = sqlite3.connect(path)
    try:
        return [v for (v,) in db.execute("SELECT version FROM schema_version ORDER BY version")]
    finally:
        db.close()


def rows(path, query):
    db = sqlite3.connect(path)
    try:
        return sorted(db.execute(query).fetchall())
    finally:
        db.close()


def test_a_new_database_gets_every_version(tmp_path):
    path = str(tmp_path / "ns.sqlite")
    store = SQLiteNamespace(path)
    store.start()
    store.stop()
    assert versions(path) == list(range(1, schema.latest("sqlite") + 1)) and schema.latest("sqlite") >= 2


def test_a_database_of_todays_release_is_upgraded_in_place(tmp_path):
    path = str(tmp_path / "ns.sqlite")
    old = sqlite3.connect(path)
    old.executescript(schema.scripts("sqlite")[0][1] + VERSION_1_ROWS)
    old.close()
    inode_columns = "id, type, size, mode, owner, grp, mtime, atime, replication, block_size"
    inodes = rows(path, f"SELECT {inode_columns} FROM inodes")
    entries = rows(path, "SELECT parent, name, id FROM inodes WHERE id != 1")
    extents = rows(path, "SELECT * FROM extents")
    kept = {table: rows(path, f"SELECT * FROM {table}") for table in ("blocks", "pins", "datanodes", "meta")}

    store = SQLiteNamespace(path)
    store.start()
    try:
        assert store.cluster_id == "c0ffee"
        inode, found = result(store.stat("/d/f"))
        assert (inode.id, inode.size, inode.owner, inode.group, inode.nlink) == (5, 15, "ann", "staff", 1)
        assert found == [Extent(A, 0, 10, 10), Extent(B, 0, 5, 5)]
        assert result(store.stat("/g"))[1] == [Extent(A, 3, 4, 10)]
        assert [s.name for s in result(store.listing("/d"))[1]] == ["e", "f"]
        assert result(store.namespace_problems()) == []
        assert result(store.integrity_check()) == "ok"
    finally:
        store.stop()
    assert versions(path) == list(range(1, schema.latest("sqlite") + 1))
    assert rows(path, f"SELECT {inode_columns} FROM inodes") == inodes
    assert rows(path, "SELECT parent, name, inode FROM dirents") == entries
    assert rows(path, "SELECT inode, seq, block_id, block_offset, length FROM extents") == extents  # and born
    assert {table: rows(path, f"SELECT * FROM {table}") for table in kept} == kept


def test_history_kept_before_the_history_tables_were_clustered_is_kept(tmp_path, monkeypatch):
    """0008 rebuilds the history tables of 0007 (WITHOUT ROWID): their rows, and the past they show, stay."""
    path = str(tmp_path / "ns.sqlite")
    every = schema.scripts("sqlite")
    monkeypatch.setattr(schema, "scripts", lambda backend: every[:7])
    store = SQLiteNamespace(path)
    store.start()
    result(store.create("/d/f", [Extent(A, 0, 10, 10)], overwrite=False))
    result(store.allow_snapshot("/d"))
    result(store.create_snapshot("/d", "s1"))
    result(store.rename("/d/f", "/d/g", overwrite=False))
    result(store.create("/d/g", [Extent(B, 0, 5, 5)], overwrite=True))
    store.stop()
    history = {table: rows(path, f"SELECT * FROM {table}")
               for table in ("inodes_history", "dirents_history", "extents_history")}
    assert all(history.values())
    monkeypatch.undo()
    store = SQLiteNamespace(path)
    store.start()
    try:
        assert result(store.past_stat("/d/.snapshot/s1/f"))[1] == [Extent(A, 0, 10, 10)]
        assert result(store.integrity_check()) == "ok"
    finally:
        store.stop()
    assert {table: rows(path, f"SELECT * FROM {table}") for table in history} == history
    assert versions(path) == list(range(1, schema.latest("sqlite") + 1))


def test_a_database_newer_than_the_code_is_refused_untouched(tmp_path):
    path = str(tmp_path / "ns.sqlite")
    store = SQLiteNamespace(path)
    store.start()
    result(store.mkdirs("/d"))
    store.stop()
    future = schema.latest("sqlite") + 1
    db = sqlite3.connect(path)
    db.execute("INSERT INTO schema_version VALUES (?, 0)", (future,))
    db.commit()
    db.close()
    with pytest.raises(schema.SchemaTooNew, match=f"schema version {future}, newer than this dfs knows"):
        SQLiteNamespace(path).start()
    assert versions(path)[-1] == future and rows(path, "SELECT name FROM dirents") == [("d",)]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_each_backend_has_every_operation_of_the_interface(backend):
    """Names and parameters as the Protocol says, so a caller written against it works with either backend."""
    implementation = SQLiteNamespace if backend == "sqlite" else pytest.importorskip(
        "dfs.namenode.namespace.postgres").PostgresNamespace
    operations = [name for name, member in vars(Namespace).items()
                  if callable(member) and not name.startswith("_")]
    assert len(operations) > 30
    for name in operations:
        wanted = inspect.signature(getattr(Namespace, name))
        have = inspect.signature(getattr(implementation, name))
        assert list(have.parameters) == list(wanted.parameters), name
