"""Snapshots and past reads of the namespace on each backend (SQLite, PostgreSQL), run synchronously: the history
triggers keep what changes, a snapshot names a commit, reads under ``.snapshot`` see the tree as it was, and GC's
view of what is referenced includes every block a snapshot holds."""

import pytest

from test_metadata import result

from dfs.errors import AccessControlException, FileNotFound, SnapshotException
from dfs.namenode.namespace.model import Extent
from dfs.namenode.permissions import Caller, Checker

A, B, C = "a" * 64, "b" * 64, "c" * 64


@pytest.fixture
def store(namespace):
    result(namespace.mkdirs("/d/sub"))
    result(namespace.create("/d/f", [Extent(A, 0, 10, 10)], overwrite=False))
    result(namespace.create("/d/sub/g", [Extent(B, 0, 5, 5)], overwrite=False))
    result(namespace.allow_snapshot("/d"))
    return namespace


def names(store, path):
    return [entry.name for entry in result(store.past_listing(path))[1]]


def test_a_snapshot_reads_the_tree_as_it_was(store):
    assert result(store.create_snapshot("/d", "s1")) == "/d/.snapshot/s1"
    result(store.create("/d/f", [Extent(C, 0, 3, 3)], overwrite=True))  # overwritten, same inode
    result(store.truncate("/d/sub/g", 2))
    result(store.rename("/d/sub", "/d/moved", overwrite=True))
    result(store.create("/d/new", [Extent(C, 0, 3, 3)], overwrite=False))
    result(store.set_permission("/d/f", 0o600))
    assert names(store, "/d/.snapshot/s1") == ["f", "sub"]
    assert names(store, "/d/.snapshot/s1/sub") == ["g"]
    inode, extents = result(store.past_stat("/d/.snapshot/s1/f"))
    assert (inode.size, inode.mode, extents) == (10, 0o644, [Extent(A, 0, 10, 10)])
    assert result(store.past_stat("/d/.snapshot/s1/sub/g"))[1] == [Extent(B, 0, 5, 5)]
    summary = result(store.past_content_summary("/d/.snapshot/s1"))
    assert (summary.directories, summary.files, summary.length) == (2, 2, 15)
    with pytest.raises(FileNotFound):
        result(store.past_stat("/d/.snapshot/s1/new"))
    with pytest.raises(FileNotFound):
        result(store.past_stat("/d/.snapshot/nope/f"))
    assert result(store.stat("/d/f"))[1] == [Extent(C, 0, 3, 3)]  # the present is untouched


def test_a_deleted_tree_stays_in_the_snapshot_and_its_blocks_stay_referenced(store):
    result(store.create_snapshot("/d", "s1"))
    result(store.delete("/d/sub", recursive=True))
    result(store.delete("/d/f", recursive=False))
    assert names(store, "/d/.snapshot/s1/sub") == ["g"]
    assert set(result(store.block_targets())) == {A, B}
    assert result(store.collectable([A, B], 0)) == {}
    result(store.delete_snapshot("/d", "s1"))  # what only it held is free
    assert set(result(store.collectable([A, B], 0))) == {A, B}
    assert result(store.block_targets()) == {}


def test_snapshot_diff_reports_as_hdfs(store):
    result(store.create_snapshot("/d", "s1"))
    result(store.rename("/d/f", "/d/f2", overwrite=True))
    result(store.create("/d/sub/h", [Extent(C, 0, 3, 3)], overwrite=False))
    result(store.mkdirs("/d/newdir/deep"))
    result(store.delete("/d/sub/g", recursive=False))
    result(store.create_snapshot("/d", "s2"))
    report = result(store.snapshot_diff("/d", "s1", "s2"))
    assert sorted(report, key=repr) == sorted([
        ("MODIFY", "", None), ("RENAME", "f", "f2"), ("CREATE", "newdir", None), ("MODIFY", "sub", None),
        ("CREATE", "sub/h", None), ("DELETE", "sub/g", None)], key=repr)
    assert result(store.snapshot_diff("/d", "s2", "")) == []


def test_snapshot_rules(store):
    with pytest.raises(SnapshotException, match="not a snapshottable directory"):
        result(store.create_snapshot("/d/sub", "x"))
    result(store.create_snapshot("/d", "s1"))
    with pytest.raises(SnapshotException, match="already a snapshot"):
        result(store.create_snapshot("/d", "s1"))
    with pytest.raises(SnapshotException, match="has snapshot"):
        result(store.disallow_snapshot("/d"))
    with pytest.raises(SnapshotException, match="cannot be deleted since /d is snapshottable"):
        result(store.delete("/d", recursive=True))
    with pytest.raises(SnapshotException, match="cannot be deleted since /d is snapshottable"):
        result(store.rename("/d", "/e", overwrite=True))
    result(store.rename_snapshot("/d", "s1", "s2"))
    assert [s.name for s in result(store.snapshots("/d"))] == ["s2"]
    assert [(p, n) for p, _, n in result(store.snapshottable_directories())] == [("/d", 1)]
    with pytest.raises(SnapshotException, match="does not exist"):
        result(store.delete_snapshot("/d", "s1"))
    result(store.delete_snapshot("/d", "s2"))
    result(store.disallow_snapshot("/d"))
    result(store.delete("/d", recursive=True))


def test_snapshot_reads_are_checked_as_the_path_was_then(store):
    """A file readable when snapshotted but closed since is readable in the snapshot: checks see the inode then."""
    result(store.set_permission("/d/sub", 0o700))
    result(store.create_snapshot("/d", "s1"))
    result(store.set_permission("/d/sub", 0o755))
    bob = Checker(Caller("bob", frozenset()))
    with pytest.raises(AccessControlException):
        result(store.past_stat("/d/.snapshot/s1/sub/g", checker=bob))
    assert result(store.stat("/d/sub/g", checker=bob))[0].size == 5
    with pytest.raises(AccessControlException, match="Superuser privilege"):
        result(store.allow_snapshot("/d/sub", checker=bob))
    with pytest.raises(AccessControlException, match="not the owner"):
        result(store.create_snapshot("/d", "s2", checker=bob))
