"""Snapshots and past reads of the namespace on each backend (SQLite, PostgreSQL), run synchronously: the history
triggers keep what changes, a snapshot names a commit, reads under ``.snapshot`` see the tree as it was, and GC's
view of what is referenced includes every block a snapshot holds."""

import time

import pytest

from test_metadata import result

from dfs.errors import AccessControlException, AlreadyExists, FileNotFound, IOFailure, SnapshotException
from dfs.namenode import acls
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
    assert names(store, "/d/.snapshot") == ["s2"]  # as HDFS lists them
    assert result(store.past_status("/d/.snapshot")).children == 1
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


def test_restore_brings_a_deleted_tree_back_as_it_was_sharing_its_blocks(store):
    store.history_retention = 3600.0
    before = a_moment_between()
    result(store.create("/d/sub/g", [Extent(C, 0, 3, 3)], overwrite=True))  # after the moment
    result(store.delete("/d/sub", recursive=True))
    assert result(store.collectable([B], 0)) == {}  # history in the window keeps the old block
    result(store.restore("/d/sub", before))
    assert result(store.stat("/d/sub/g"))[1] == [Extent(B, 0, 5, 5)]
    result(store.create("/d/f", [Extent(C, 0, 3, 3)], overwrite=True))
    result(store.truncate("/d/f", 1))
    inode = result(store.restore("/d/f", before, "/elsewhere/f"))
    assert (inode.size, result(store.stat("/elsewhere/f"))[1]) == (10, [Extent(A, 0, 10, 10)])
    file_id = result(store.stat("/d/f"))[0].id
    result(store.restore("/d/f", before))  # onto the file there: its inode keeps its id
    inode, extents = result(store.stat("/d/f"))
    assert (inode.id, inode.size, extents) == (file_id, 10, [Extent(A, 0, 10, 10)])
    with pytest.raises(AlreadyExists):
        result(store.restore("/d/sub", before))
    assert result(store.namespace_problems()) == []


def test_history_past_the_window_is_refused_and_trimmed(store):
    store.history_retention = 3600.0
    result(store.delete("/d/f", recursive=False))
    assert result(store.trim_history()) == 0  # in the window
    with pytest.raises(IOFailure, match="history-retention"):
        result(store.past_listing("/d", int((time.time() - 7200) * 1000)))
    result(store.create_snapshot("/d", "s1"))
    result(store.delete("/d/sub", recursive=True))
    store.history_retention = 0.0
    assert set(result(store.collectable([A, B], 0))) == {A}  # the snapshot holds /d/sub/g's block
    assert result(store.trim_history()) > 0
    assert names(store, "/d/.snapshot/s1/sub") == ["g"]
    assert result(store.past_stat("/d/.snapshot/s1/sub/g"))[1] == [Extent(B, 0, 5, 5)]


def a_moment_between():
    """A moment (epoch milliseconds) after every change made so far and before any made next. Commits carry
    wall-clock times finer than a millisecond: the one after now's millisecond is later than every commit made,
    and the clock is let pass it before this returns."""
    moment = int(time.time() * 1000) + 1
    deadline = time.monotonic() + 5
    while int(time.time() * 1000) <= moment:
        assert time.monotonic() < deadline
    return moment


def test_a_purge_drops_history_at_once_and_usage_says_what_is_held(store):
    store.history_retention = 3600.0
    result(store.create_snapshot("/d", "s1"))
    result(store.delete("/d/sub", recursive=True))  # held by the snapshot
    result(store.create("/d/f", [Extent(C, 0, 3, 3)], overwrite=True))  # A: held by the snapshot too
    result(store.create("/d/f", [Extent(B, 0, 5, 5)], overwrite=True))  # C: held by the window only
    assert result(store.history_usage()) == {"snapshots": 10, "backups": 0, "history": 3}  # B is named again now
    now = a_moment_between()
    assert result(store.purge_history(now)) > 0
    assert result(store.history_usage()) == {"snapshots": 10, "backups": 0, "history": 0}
    assert set(result(store.collectable([A, C], 0))) == {C}
    with pytest.raises(IOFailure, match="purge"):
        result(store.past_listing("/d", now - 1))


def test_a_backup_hold_keeps_what_its_commits_name_with_history_off(store):
    store.history_retention = 0.0
    result(store.trim_history())
    result(store.hold_for_backup("b1"))  # taken from here on: everything alive from now is held
    result(store.delete("/d/f", recursive=False))
    assert result(store.trim_history()) == 0
    assert result(store.collectable([A], 0)) == {}
    (since, upto), = result(store.backup_holds())["b1"]
    result(store.set_backup_holds({"b1": [(since, since)]}))  # the copy's commit: /d/f was alive then
    result(store.create("/d/f", [Extent(C, 0, 3, 3)], overwrite=False))
    result(store.delete("/d/f", recursive=False))  # C was born after the backup: not held
    assert result(store.trim_history()) > 0
    assert set(result(store.collectable([A, C], 0))) == {C}
    assert A in result(store.block_targets())
    assert result(store.history_usage()) == {"snapshots": 0, "backups": 10, "history": 0}
    result(store.release_backups(["b1"]))
    assert result(store.backup_holds()) == {}
    assert set(result(store.collectable([A, C], 0))) == {A, C}
    assert result(store.trim_history()) > 0


def test_extended_attributes_are_read_as_they_were(store):
    store.history_retention = 3600.0
    result(store.set_xattr("/d/f", "user.color", b"red", create=True, replace=False))
    result(store.set_xattr("/d/f", "user.gone", b"x", create=True, replace=False))
    result(store.create_snapshot("/d", "s1"))
    before = a_moment_between()
    result(store.set_xattr("/d/f", "user.color", b"blue", create=False, replace=True))
    result(store.remove_xattr("/d/f", "user.gone"))
    result(store.set_xattr("/d/f", "user.new", b"y", create=True, replace=False))
    then = {"user.color": b"red", "user.gone": b"x"}
    assert result(store.past_xattrs("/d/.snapshot/s1/f")) == then
    assert result(store.past_xattrs("/d/f", before, op="LISTXATTRS")) == then
    assert result(store.xattrs("/d/f")) == {"user.color": b"blue", "user.new": b"y"}
    result(store.delete("/d/f", recursive=False))
    assert result(store.past_xattrs("/d/.snapshot/s1/f")) == then  # a deleted file's too
    result(store.restore("/d/f", before))
    assert result(store.xattrs("/d/f")) == then  # and a restore brings them back


def test_a_restore_keeps_hard_links_one_inode(store):
    store.history_retention = 3600.0
    result(store.link("/d/f", "/d/sub/f2"))
    before = a_moment_between()
    result(store.delete("/d/sub", recursive=True))
    result(store.delete("/d/f", recursive=False))
    result(store.restore("/d", before, "/back"))
    one, two = result(store.stat("/back/f"))[0], result(store.stat("/back/sub/f2"))[0]
    assert (one.id, one.nlink) == (two.id, 2)
    assert result(store.namespace_problems()) == []


def test_nested_snapshottable_directories_are_refused(store):
    with pytest.raises(SnapshotException, match="^Nested snapshottable directories not allowed: path=/d/sub, the"
                                                " ancestor /d is already a snapshottable directory.$"):
        result(store.allow_snapshot("/d/sub"))
    with pytest.raises(SnapshotException, match="^Nested snapshottable directories not allowed: path=/, the"
                                                " subdirectory /d is already a snapshottable directory.$"):
        result(store.allow_snapshot("/"))
    result(store.allow_snapshot("/d"))  # again: allowed already
    result(store.mkdirs("/dd"))
    result(store.allow_snapshot("/dd"))  # a sibling sharing a prefix is not nested
    result(store.disallow_snapshot("/d"))
    result(store.allow_snapshot("/d/sub"))


def test_the_paged_diff_lists_what_hdfss_client_rebuilds_the_diff_from(store):
    result(store.create_snapshot("/d", "s1"))
    result(store.rename("/d/f", "/d/sub/f2", overwrite=True))
    result(store.create("/d/sub/h", [Extent(C, 0, 3, 3)], overwrite=False))
    result(store.delete("/d/sub/g", recursive=False))
    result(store.create_snapshot("/d", "s2"))
    d, sub = result(store.status("/d")).inode.id, result(store.status("/d/sub")).inode.id
    f, g = (result(store.past_status(p)).inode.id for p in ("/d/.snapshot/s1/f", "/d/.snapshot/s1/sub/g"))
    h = result(store.status("/d/sub/h")).inode.id
    store.snapshot_diff_listing_limit = 2
    pages, start = [], 0
    for _ in range(10):
        entries, start = result(store.snapshot_diff_listing("/d", "s1", "s2", start))
        pages.append(entries)
        if start is None:
            break
    assert [len(page) for page in pages] == [2, 2, 2]
    assert sorted(entry for page in pages for entry in page) == sorted([
        ("modify", d, d, "", None, True), ("delete", d, f, "f", "sub/f2", True),
        ("modify", sub, sub, "sub", None, True), ("create", sub, f, "sub/f2", None, True),
        ("delete", sub, g, "sub/g", None, False), ("create", sub, h, "sub/h", None, False)])
    # the parent directory of every change is a MODIFY, which the unpaged diff reports too
    assert sorted(result(store.snapshot_diff("/d", "s1", "s2"))) == sorted([
        ("MODIFY", "", None), ("RENAME", "f", "sub/f2"), ("MODIFY", "sub", None), ("CREATE", "sub/h", None),
        ("DELETE", "sub/g", None)])


def test_a_restore_brings_acls_back(store):
    store.history_retention = 3600.0
    spec = acls.parse_spec("user:bob:rw-", True)
    result(store.change_acl("/d/f", "MODIFYACLENTRIES", spec))
    result(store.change_acl("/d/sub/g", "MODIFYACLENTRIES", spec))
    then = result(store.status("/d/f")).inode.acl
    before = a_moment_between()
    result(store.change_acl("/d/f", "REMOVEACL"))
    result(store.delete("/d/sub", recursive=True))
    result(store.restore("/d/f", before))  # onto the file there
    result(store.restore("/d/sub", before))  # a deleted tree
    assert then and [result(store.status(p)).inode.acl for p in ("/d/f", "/d/sub/g")] == [then, then]


def test_format_leaves_no_history(store):
    result(store.set_xattr("/d/f", "user.color", b"red", create=True, replace=False))
    result(store.delete("/d", recursive=True))
    result(store.format())
    tables = ("dirents_history", "extents_history", "xattrs_history")  # (the root's old row stays: format touches it)
    counts = result(store.read(lambda db: [db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables]))
    assert counts == [0, 0, 0]


def test_a_change_of_extended_attributes_is_a_modify_in_the_diff(store):
    result(store.set_xattr("/d/sub/g", "user.kept", b"1", create=True, replace=False))
    result(store.create_snapshot("/d", "s1"))
    result(store.set_xattr("/d/f", "user.color", b"red", create=True, replace=False))
    result(store.remove_xattr("/d/sub/g", "user.kept"))
    result(store.create_snapshot("/d", "s2"))
    assert result(store.snapshot_diff("/d", "s1", "s2")) == [("MODIFY", "f", None), ("MODIFY", "sub/g", None)]
    assert result(store.snapshot_diff("/d", "s2", "")) == []
