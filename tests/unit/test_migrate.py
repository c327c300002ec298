"""`dfs admin migrate`'s engine (namespace.migrate): a namespace copied SQLite -> PostgreSQL -> SQLite keeps every
row and id, a table a later schema adds is copied without the migrator knowing it, and every refusal leaves the
target as it was."""

import hashlib
import io
import sqlite3

import pytest

from test_metadata import result

from dfs.cli import admin, main
from dfs.errors import FileNotFound
from dfs.namenode.namespace import migrate as migration
from dfs.namenode.namespace.backends import open_namespace
from dfs.namenode.namespace.model import Extent


def block(n):
    return hashlib.sha256(str(n).encode()).hexdigest()


def populate(store):
    """Directories, files with blocks and holes, a hard link, a symlink, a special file, xattrs, a quota, a pin, a
    datanode, and a deleted file (an unreferenced block with its GC stamp)."""
    result(store.mkdirs("/a/b", owner="alice", group="staff"))
    for n in range(40):
        result(store.create(f"/a/b/f{n}", [Extent(block(n), 0, 10 + n, 10 + n), Extent(None, 0, 5, 0)], False,
                            owner="bob"))
    result(store.link("/a/b/f1", "/a/hard"))
    result(store.symlink("/a/b/f2", "/a/sym"))
    result(store.mknod("/a/fifo", "FIFO", 0o600))
    result(store.set_xattr("/a/b/f3", "user.colour", b"\x00blue\xff", True, False))
    result(store.set_quota("/a", names=1000, space=1 << 30))
    result(store.set_permission("/a/b/f4", 0o600))
    result(store.pin(block(99), "upload-1", 1e10))
    result(store.remember_datanode("dn-1", "http://127.0.0.1:1"))
    result(store.delete("/a/b/f39", False))


def open_store(location):
    store = open_namespace(location)
    store.start()
    return store


@pytest.fixture
def source(tmp_path):
    path = str(tmp_path / "source.sqlite")
    store = open_store(path)
    populate(store)
    store.stop()
    return path


def test_a_namespace_goes_to_postgresql_and_back_unchanged(source, tmp_path, postgres_url):
    counts = migration.migrate("sqlite://" + source, postgres_url)
    assert counts["inodes"] == 44 and counts["extents"] == 78 and counts["xattrs"] == 1 and counts["quotas"] == 1
    back = str(tmp_path / "back.sqlite")
    assert migration.migrate(postgres_url, back) == counts
    assert migration.digests(back) == migration.digests(postgres_url) == migration.digests(source)

    store = open_store(postgres_url)
    try:  # the copy is a working namespace: ids kept, the sequence past them, the cluster id the same
        old = open_store(source)
        assert store.cluster_id == old.cluster_id
        assert result(store.stat("/a/hard")) == result(old.stat("/a/b/f1"))  # the same inode, the same extents
        old.stop()
        new = result(store.create("/a/new", [Extent(block(1), 0, 11, 11)], False))
        assert new.id > max(result(store.stat(f"/a/b/f{n}"))[0].id for n in range(39))
        assert result(store.xattrs("/a/b/f3")) == {"user.colour": b"\x00blue\xff"}
        assert result(store.stat("/a/sym"))[0].target == "/a/b/f2"
        with pytest.raises(FileNotFound):
            result(store.stat("/a/b/f39"))
    finally:
        store.stop()


def test_a_table_a_later_schema_adds_is_copied_and_verified(source, postgres_url):
    """Other branches add tables (ACLs, history, leases): the migrator finds them in the catalog, orders them by
    their foreign keys and checks them like the rest."""
    db = sqlite3.connect(source)
    db.executescript("CREATE TABLE zz_notes (inode INTEGER NOT NULL, seq INTEGER, note TEXT, stamp REAL,"
                     " FOREIGN KEY (inode, seq) REFERENCES extents (inode, seq));"
                     "INSERT INTO zz_notes SELECT inode, seq, 'n' || inode, inode / 3.0 FROM extents;")
    db.close()
    with migration._open(postgres_url, create=True) as target:
        target.create()
    import psycopg

    with psycopg.connect(postgres_url) as pg:
        pg.execute("CREATE TABLE zz_notes (inode BIGINT NOT NULL, seq INTEGER, note TEXT, stamp DOUBLE PRECISION,"
                   " FOREIGN KEY (inode, seq) REFERENCES extents (inode, seq))")
    assert migration.migrate(source, postgres_url)["zz_notes"] == 78
    assert migration.digests(postgres_url)["zz_notes"] == migration.digests(source)["zz_notes"]


def test_a_target_that_differs_is_rolled_back(source, postgres_url):
    """The check compares what the target holds: a row changed in the copy's transaction, just before the check,
    is found, and the target keeps nothing."""
    original = migration._Postgres.after_copy

    def damage(self, tables):
        original(self, tables)
        self.db.execute("UPDATE inodes SET mode = mode + 1 WHERE id = (SELECT MAX(id) FROM inodes)")

    migration._Postgres.after_copy = damage
    try:
        with pytest.raises(migration.Mismatch, match="inodes"):
            migration.migrate(source, postgres_url)
    finally:
        migration._Postgres.after_copy = original
    assert migration.digests(postgres_url)["inodes"] == (0, f"{0:064x}")


def test_a_non_empty_target_is_refused_unless_replaced(source, tmp_path, postgres_url):
    migration.migrate(source, postgres_url)
    with pytest.raises(migration.Refused, match="not empty"):
        migration.migrate(source, postgres_url)
    other = str(tmp_path / "other.sqlite")
    store = open_store(other)
    result(store.mkdirs("/only-here"))
    store.stop()
    migration.migrate(other, postgres_url, replace=True)
    assert migration.digests(postgres_url) == migration.digests(other)


def test_a_schema_this_dfs_does_not_know_is_refused(source, tmp_path, postgres_url):
    db = sqlite3.connect(source)
    db.execute("INSERT INTO schema_version (version, applied) VALUES (99, 0)")
    db.commit()
    db.close()
    with pytest.raises(migration.Refused, match="schema version 99, this dfs knows"):
        migration.migrate(source, postgres_url)
    old = str(tmp_path / "old.sqlite")
    db = sqlite3.connect(old)
    db.executescript(migration.schema.scripts("sqlite")[0][1])  # a release before versioned schemas
    db.close()
    with pytest.raises(migration.Refused, match="schema version 1, this dfs knows"):
        migration.migrate(old, postgres_url)


def test_a_database_a_namenode_has_open_is_refused(source, tmp_path, postgres_url):
    running = open_store(source)
    try:
        with pytest.raises(migration.Refused, match="stop the namenode"):
            migration.migrate(source, postgres_url)
    finally:
        running.stop()
    migration.migrate(source, postgres_url)
    running = open_store(postgres_url)
    try:
        with pytest.raises(migration.Refused, match="a namenode is using"):
            migration.migrate(postgres_url, str(tmp_path / "back.sqlite"))
    finally:
        running.stop()


def test_progress_is_a_line_every_two_seconds_and_one_at_the_end():
    stream = io.StringIO()
    times = iter([0.0, 1.0, 2.5, 3.0, 3.1])
    show = admin._row_progress(stream, clock=lambda: next(times))
    for done in (0, 50, 60, 100):
        show(done, 100)
    assert stream.getvalue().splitlines() == ["dfs: admin migrate: copied 50 of 100 rows (50%)",
                                              "dfs: admin migrate: copied 100 of 100 rows (100%)"]


def test_a_short_copy_prints_no_progress():
    stream = io.StringIO()
    show = admin._row_progress(stream, clock=lambda: 0.0)
    show(0, 10)
    show(10, 10)
    assert stream.getvalue() == ""


def test_the_command_line_prints_the_tables_it_copied(source, postgres_url, capsys):
    assert main(["admin", "migrate", "--from", "sqlite://" + source, "--to", postgres_url]) == 0
    out, err = capsys.readouterr()
    assert "inodes" in out and "44" in out and "verified" in out
    assert main(["admin", "migrate", "--from", source, "--to", postgres_url]) == 1
    assert "not empty" in capsys.readouterr().err


def test_tables_are_copied_after_the_tables_they_refer_to():
    tables = {"a": set(), "b": set(), "c": set(), "d": set()}
    assert migration.dependency_order(tables, {"a": {"c"}, "c": {"d", "c"}}) == ["b", "d", "c", "a"]
    with pytest.raises(migration.Refused, match="cycle"):
        migration.dependency_order(tables, {"a": {"b"}, "b": {"a"}})
