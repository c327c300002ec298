"""The namespace store on each backend (SQLite, PostgreSQL), run synchronously (no reactor: transactions run in the
calling thread)."""

import json
import os

import pytest
import pytest_twisted

from dfs.errors import (AlreadyExists, DirectoryNotEmpty, DSQuotaExceeded, FileNotFound, IsADirectory,
                        NotADirectory, NSQuotaExceeded)
from dfs.namenode import webhdfs
from dfs.namenode.namespace.backends import open_namespace
from dfs.namenode.namespace.model import ROOT, ContentSummary, Extent, block_target
from dfs.namenode.namespace.sqlite import SQLiteNamespace

A = "a" * 64
B = "b" * 64


def result(d):
    out = []
    d.addBoth(out.append)
    value = out[0]
    if hasattr(value, "raiseException"):
        value.raiseException()
    return value


@pytest.fixture
def store(namespace):
    return namespace


def test_create_list_stat(store):
    result(store.create("/d/f", [Extent(A, 0, 10, 10)], overwrite=False))
    inode, extents = result(store.stat("/d/f"))
    assert inode.size == 10 and extents == [Extent(A, 0, 10, 10)]
    assert [c["pathSuffix"] for c in listed(store, "/d")] == ["f"]
    assert listed(store, "/")[0]["childrenNum"] == 1
    assert listed(store, "/d/f") == [status_of(store, "/d/f")]


def listed(store, path):
    return json.loads(webhdfs.list_status(*result(store.listing(path))))["FileStatuses"]["FileStatus"]


def status_of(store, path):
    return json.loads(webhdfs.file_status(result(store.status(path))))


def test_listing_and_status_say_the_same(store):
    """GETFILESTATUS and LISTSTATUS describe an inode alike, a directory's childrenNum included."""
    result(store.create("/d/b file \u00e9\"q", [Extent(A, 0, 10, 10)], overwrite=False, replication=2, mode=0o1750))
    result(store.mkdirs("/d/a dir/sub"))
    result(store.create("/d/a dir/g", [Extent(B, 0, 5, 5)], overwrite=False))
    result(store.set_times("/d/a dir", mtime=5, atime=7))
    expected = [dict(status_of(store, f"/d/{name}"), pathSuffix=name) for name in ("a dir", "b file \u00e9\"q")]
    assert listed(store, "/d") == expected
    assert expected[0]["childrenNum"] == 2 and expected[0]["accessTime"] == 7 and expected[0]["length"] == 0
    assert expected[1]["permission"] == "1750" and expected[1]["replication"] == 2 and expected[1]["length"] == 10
    assert status_of(store, "/d")["childrenNum"] == 2
    assert listed(store, "/d/a dir/sub") == []


def test_overwrite_requires_flag_and_replaces_atomically(store):
    result(store.create("/f", [Extent(A, 0, 10, 10)], overwrite=False))
    with pytest.raises(AlreadyExists):
        result(store.create("/f", [Extent(B, 0, 5, 5)], overwrite=False))
    before = result(store.status("/f")).inode.mtime
    result(store.create("/f", [Extent(B, 0, 5, 5)], overwrite=True))
    inode, extents = result(store.stat("/f"))
    assert extents == [Extent(B, 0, 5, 5)] and inode.mtime > before


def test_file_directory_confusion(store):
    result(store.create("/f", [], overwrite=False))
    with pytest.raises(NotADirectory):
        result(store.create("/f/g", [], overwrite=False))
    with pytest.raises(AlreadyExists):
        result(store.mkdirs("/f"))
    result(store.mkdirs("/d"))
    with pytest.raises(AlreadyExists):
        result(store.create("/d", [], overwrite=True))
    with pytest.raises(IsADirectory):
        result(store.append("/d", []))


def test_delete_and_rename(store):
    result(store.create("/d/f", [], overwrite=False))
    with pytest.raises(DirectoryNotEmpty):
        result(store.delete("/d", recursive=False))
    assert result(store.rename("/d", "/e")) is True
    with pytest.raises(FileNotFound):
        result(store.status("/d/f"))
    result(store.mkdirs("/into"))
    result(store.rename("/e", "/into"))
    assert result(store.status("/into/e/f")).inode.type == "FILE"
    assert result(store.rename("/into", "/into/e/inside")) is False
    assert result(store.delete("/into", recursive=True)) is True
    assert result(store.delete("/nothing", recursive=True)) is False


def test_rename_overwrite_replaces_file(store):
    result(store.create("/a", [Extent(A, 0, 1, 1)], overwrite=False))
    result(store.create("/b", [Extent(B, 0, 1, 1)], overwrite=False))
    assert result(store.rename("/a", "/b")) is False
    result(store.rename("/a", "/b", overwrite=True))
    assert result(store.stat("/b"))[1] == [Extent(A, 0, 1, 1)]


def test_append_truncate_concat_copy(store):
    result(store.create("/f", [Extent(A, 0, 10, 10)], overwrite=False))
    result(store.append("/f", [Extent(B, 0, 6, 6)]))
    assert result(store.status("/f")).inode.size == 16
    result(store.truncate("/f", 12))
    assert result(store.stat("/f"))[1] == [Extent(A, 0, 10, 10), Extent(B, 0, 2, 6)]
    result(store.copy("/f", "/g"))
    assert result(store.stat("/g"))[1] == result(store.stat("/f"))[1]
    result(store.create("/h", [Extent(A, 0, 3, 10)], overwrite=False))
    result(store.concat("/f", ["/h"]))
    assert result(store.status("/f")).inode.size == 15
    with pytest.raises(FileNotFound):
        result(store.status("/h"))


def test_truncating_up_adds_a_hole_and_stores_nothing(store):
    result(store.create("/f", [Extent(A, 0, 10, 10)], overwrite=False))
    result(store.truncate("/f", 256 << 30))
    result(store.truncate("/f", (256 << 30) + 5))  # a hole at the end grows, no second one
    inode, extents = result(store.stat("/f"))
    assert (inode.size, extents) == ((256 << 30) + 5, [Extent(A, 0, 10, 10), Extent.hole((256 << 30) - 5)])
    assert result(store.status("/f")).holes == (256 << 30) - 5
    assert result(store.block_targets()) == {A: block_target(3, 10)}  # repair and GC see no block in a hole
    assert result(store.collectable([A], now=0)) == {}
    assert result(store.forget_unreferenced_blocks()) == 0
    result(store.truncate("/f", 4))
    assert result(store.stat("/f"))[1] == [Extent(A, 0, 4, 10)]
    assert result(store.status("/f")).holes == 0


def test_ctime_moves_with_every_change_of_the_inode_and_mtime_only_with_its_data(store):
    result(store.create("/f", [Extent(A, 0, 10, 10)], overwrite=False, mtime=1000))
    inode = result(store.status("/f")).inode
    assert inode.ctime > inode.mtime == 1000  # a file created with an old mtime (a copy) changed now
    assert status_of(store, "/f")["changeTime"] == inode.ctime
    changes = {
        "chmod": (lambda: store.set_permission("/f", 0o600), False),
        "chown": (lambda: store.set_owner("/f", "someone"), False),
        "utimens": (lambda: store.set_times("/f", mtime=2000), None),
        "setxattr": (lambda: store.set_xattr("/f", "user.a", b"1", True, False), False),
        "removexattr": (lambda: store.remove_xattr("/f", "user.a"), False),
        "setfacl": (lambda: store.change_acl("/f", "REMOVEACL"), False),
        "link": (lambda: store.link("/f", "/g"), False),
        "unlink of another name": (lambda: store.delete("/g", recursive=False), False),
        "rename": (lambda: store.rename("/f", "/h", overwrite=True), False),
        "truncate": (lambda: store.truncate("/h", 4), True),
        "append": (lambda: store.append("/h", [Extent(B, 0, 6, 6)]), True),
        "overwrite": (lambda: store.create("/h", [Extent(B, 0, 6, 6)], overwrite=True), True),
    }
    path = "/f"
    for name, (change, moves_mtime) in changes.items():
        result(change())
        path = "/h" if name == "rename" or path == "/h" else path
        after = result(store.status(path)).inode
        assert after.ctime > inode.ctime, name
        if moves_mtime is not None:
            assert (after.mtime > inode.mtime) == moves_mtime, name
        inode = after


def test_block_targets_and_unreferenced(store):
    result(store.create("/f", [Extent(A, 0, 10, 10)], overwrite=False, replication=2))
    result(store.create("/g", [Extent(A, 0, 10, 10), Extent(B, 0, 4, 4)], overwrite=False, replication=3))
    assert result(store.block_targets()) == {A: block_target(3, 10), B: block_target(3, 4)}
    result(store.delete("/g", recursive=False))
    assert result(store.forget_unreferenced_blocks()) == 1
    assert result(store.block_targets()) == {A: block_target(2, 10)}


def test_summary_and_format(store):
    result(store.create("/d/f", [Extent(A, 0, 10, 10)], overwrite=False, replication=3))
    summary = result(store.content_summary("/d"))
    assert summary == ContentSummary(directories=1, files=1, length=10, space_consumed=30)
    result(store.format())
    assert listed(store, "/") == []
    assert result(store.integrity_check()) == "ok"


def test_survives_reopen(namespace_location):
    s = open_namespace(namespace_location)
    s.start()
    result(s.create("/keep", [Extent(A, 0, 10, 10)], overwrite=False))
    cluster = s.cluster_id
    s.stop()
    s = open_namespace(namespace_location)
    s.start()
    assert s.cluster_id == cluster and result(s.status("/keep")).inode.size == 10
    s.stop()


@pytest_twisted.ensureDeferred
async def test_lookups_run_on_the_reactor_beside_the_writer_thread(tmp_path):
    from twisted.internet import reactor

    s = SQLiteNamespace(str(tmp_path / "ns.sqlite"), reactor)
    s.start()
    try:
        await s.create("/a", [Extent(A, 0, 10, 10)], overwrite=False)
        writing = s.create("/b", [Extent(B, 0, 5, 5)], overwrite=False)  # committing on the writer thread
        inode, extents = await s.stat("/a")
        assert inode.size == 10 and extents == [Extent(A, 0, 10, 10)]
        with pytest.raises(FileNotFound):
            await s.stat("/missing")
        with pytest.raises(AlreadyExists):
            await s.check_create("/a", overwrite=False)
        assert not s._lookup_db.in_transaction, "a lookup never leaves its read transaction open"
        await writing
        assert (await s.status("/b")).inode.size == 5
    finally:
        s.stop()
    assert s._lookup_db is None


@pytest_twisted.ensureDeferred
async def test_a_stopped_namespace_closes_every_connection(tmp_path):
    """Reader threads open their own connections; stop closes them too, so SQLite checkpoints and removes its
    write-ahead log, and nothing holds the file after the namenode has gone."""
    from twisted.internet import reactor

    path = str(tmp_path / "ns.sqlite")
    s = SQLiteNamespace(path, reactor)
    s.start()
    await s.create("/a", [Extent(A, 0, 10, 10)], overwrite=False)
    await s.listing("/")  # on a reader thread
    s.stop()
    assert not os.path.exists(path + "-wal")


@pytest_twisted.ensureDeferred
async def test_a_failed_commit_fails_its_batch_and_later_writes_still_run(tmp_path):
    """An error outside any one change (here the metrics hook; in life a damaged file) used to leave the writer
    marked busy, and every later write waited forever."""
    from twisted.internet import reactor

    s = SQLiteNamespace(str(tmp_path / "ns.sqlite"), reactor)
    s.start()
    failures = [RuntimeError("the hook failed")]

    def observe(seconds):
        if failures:
            raise failures.pop()

    s.observe_transaction = observe
    try:
        with pytest.raises(RuntimeError):
            await s.mkdirs("/a").addTimeout(30, reactor)
        await s.mkdirs("/b").addTimeout(30, reactor)
        assert (await s.status("/b")).inode.type == "DIRECTORY"
    finally:
        s.stop()


def test_rename_never_makes_a_directory_its_own_ancestor(store):
    """HDFS's rename without options: a directory onto itself or into its own subtree is refused with False and
    changes nothing; a file onto itself is True and changes nothing."""
    result(store.create("/a/b/f", [Extent(A, 0, 1, 1)], overwrite=False))
    for dst in ("/a", "/a/b", "/a/b/c", "/a/b/f"):
        assert result(store.rename("/a", dst)) is False
    assert result(store.rename("/a/b/f", "/a/b/f")) is True
    assert result(store.rename("/a/b", "/a")) is True  # into its own parent: where it is already
    assert result(store.stat("/a/b/f"))[1] == [Extent(A, 0, 1, 1)]
    assert result(store.namespace_problems()) == []


def test_rename_answers_false_where_hdfs_does(store):
    result(store.create("/f", [Extent(A, 0, 1, 1)], overwrite=False))
    result(store.create("/g", [Extent(B, 0, 1, 1)], overwrite=False))
    assert result(store.rename("/missing", "/x")) is False
    assert result(store.rename("/f", "/no/parent")) is False
    assert result(store.rename("/f", "/g")) is False
    assert result(store.rename("/", "/x")) is False
    assert result(store.stat("/g"))[1] == [Extent(B, 0, 1, 1)]


def test_copy_onto_itself_keeps_the_file(store):
    result(store.create("/d/f", [Extent(A, 0, 1, 1)], overwrite=False))
    with pytest.raises(AlreadyExists):
        result(store.copy("/d/f", "/d", overwrite=True))
    assert result(store.stat("/d/f"))[1] == [Extent(A, 0, 1, 1)]


def test_namespace_problems_name_each_detached_piece(store):
    """fsck's check of the tree: damage done behind the store's back is found, piece by piece."""
    result(store.create("/loop/x/f", [Extent(A, 0, 1, 1)], overwrite=False))
    result(store.create("/lost/g", [Extent(B, 0, 1, 1)], overwrite=False))
    result(store.create("/file", [], overwrite=False))
    result(store.mkdirs("/hidden/h"))
    assert result(store.namespace_problems()) == []
    ids = {p: result(store.status(p)).inode.id for p in ("/loop", "/loop/x", "/lost", "/file", "/hidden")}

    def damage(db):
        db.execute("UPDATE dirents SET parent = ? WHERE inode = ?", (ids["/loop/x"], ids["/loop"]))  # /loop in /loop/x
        db.execute("UPDATE dirents SET parent = 999 WHERE inode = ?", (ids["/lost"],))
        db.execute("UPDATE dirents SET parent = ? WHERE inode = ?", (ids["/file"], ids["/hidden"]))

    result(store.run(damage))
    problems = sorted(result(store.namespace_problems()), key=lambda p: p.problem)
    assert [(p.problem, p.inodes, p.files) for p in problems] == [
        ("cycle", 3, 1), ("orphan", 2, 1), ("under_file", 2, 0)]
    assert sorted(problems[0].cycle) == sorted([ids["/loop"], ids["/loop/x"]])
    assert (problems[1].inode, problems[1].name, problems[1].parent) == (ids["/lost"], "lost", 999)
    assert (problems[2].inode, problems[2].parent) == (ids["/hidden"], ids["/file"])


def test_namespace_problems_find_unnamed_inodes_dangling_entries_and_loops_in_reach(store):
    """The tree on directory entries: an inode no entry names, an entry naming no inode, and an entry that makes
    a directory its own descendant while it stays reachable (a second entry for a directory)."""
    result(store.create("/gone/f", [Extent(A, 0, 1, 1)], overwrite=False))
    result(store.mkdirs("/a/b"))
    ids = {p: result(store.status(p)).inode.id for p in ("/gone", "/a", "/a/b")}

    def damage(db):
        db.execute("DELETE FROM dirents WHERE inode = ?", (ids["/gone"],))
        db.execute("INSERT INTO dirents (parent, name, inode) VALUES (?, 'ghost', 4242)", (ids["/a"],))
        db.execute("INSERT INTO dirents (parent, name, inode) VALUES (?, 'up', ?)", (ids["/a/b"], ids["/a"]))

    result(store.run(damage))
    problems = {p.problem: p for p in result(store.namespace_problems())}
    assert sorted(problems) == ["link_count", "missing_inode", "orphan"]
    assert (problems["orphan"].inode, problems["orphan"].parent, problems["orphan"].inodes,
            problems["orphan"].files) == (ids["/gone"], 0, 2, 1)
    assert (problems["missing_inode"].inode, problems["missing_inode"].name,
            problems["missing_inode"].parent) == (4242, "ghost", ids["/a"])
    assert problems["link_count"].inode == ids["/a"]
    assert result(store.content_summary("/a")).directories == 2, "summing a loop ends (it used to run forever)"
    assert [p for p, _, _ in result(store.walk_files("/a"))] == [], "fsck's walk of a loop ends"
    assert result(store.delete("/a", recursive=True)) is True, "deleting a loop ends"
    assert [p.problem for p in result(store.namespace_problems())] == ["orphan"]


def test_path_inodes_walk_from_the_root(store):
    result(store.create("/a/b/f", [Extent(A, 0, 1, 1)], overwrite=False))
    chain = result(store.path_inodes("/a/b/free"))
    assert [i.id for i in chain[:3]] == [ROOT] + [result(store.status(p)).inode.id for p in ("/a", "/a/b")]
    assert chain[3] is None and chain[1].is_directory
    assert [i.type for i in result(store.path_inodes("/a/b/f"))] == ["DIRECTORY"] * 3 + ["FILE"]
    assert [i.id for i in result(store.path_inodes("/"))] == [ROOT]
    with pytest.raises(FileNotFound):
        result(store.path_inodes("/a/missing/x"))
    with pytest.raises(NotADirectory):
        result(store.path_inodes("/a/b/f/x"))


def test_listing_pages_by_name(store):
    for name in "dbeac":
        result(store.create(f"/d/{name}", [], overwrite=False))
    directory, page = result(store.listing("/d", limit=2))
    assert [s.name for s in page] == ["a", "b"] and directory.children == 5
    directory, page = result(store.listing("/d", start_after="b", limit=2))
    assert [s.name for s in page] == ["c", "d"] and directory.children == 5
    assert [s.name for s in result(store.listing("/d", start_after="d"))[1]] == ["e"]


def test_entries_after_a_name_are_counted(store):
    for name in "dbeac":
        result(store.create(f"/d/{name}", [], overwrite=False))
    assert [result(store.count_entries("/d", after)) for after in ("", "b", "bb", "d", "e")] == [5, 3, 3, 1, 0]
    assert result(store.count_entries("/d/a", "")) == 0


def test_a_hole_is_an_extent_without_a_block(store):
    """A hole stores no block; GC still forgets the rows of blocks nothing refers to while a hole exists."""
    result(store.create("/sparse", [Extent(A, 0, 10, 10), Extent.hole(6), Extent(A, 2, 3, 10)], overwrite=False))
    result(store.create("/gone", [Extent(B, 0, 5, 5)], overwrite=False))
    inode, extents = result(store.stat("/sparse"))
    assert inode.size == 19 and extents[1] == Extent.hole(6) and extents[1].block_id is None
    assert result(store.block_targets()) == {A: block_target(3, 10), B: block_target(3, 5)}
    result(store.delete("/gone", recursive=False))
    assert result(store.forget_unreferenced_blocks()) == 1
    result(store.truncate("/sparse", 13))
    assert result(store.stat("/sparse"))[1] == [Extent(A, 0, 10, 10), Extent.hole(3)]
    assert result(store.collectable([A, B], now=0)) == {B: None}


def test_hard_links_symlinks_and_special_files(store):
    """The posix operations on each backend: a hard link keeps the file when its first name goes, a symlink holds
    its target, a special file its device number, and a directory counts its subdirectories."""
    result(store.create("/d/f", [Extent(A, 0, 10, 10)], overwrite=False))
    result(store.mkdirs("/d/sub"))
    assert result(store.link("/d/f", "/d/g")).nlink == 2
    assert result(store.symlink("/d/f", "/d/s")).target == "/d/f"
    device = result(store.mknod("/d/dev", "CHAR_DEVICE", 0o600, rdev=0x0501))
    assert (device.type, device.rdev) == ("CHAR_DEVICE", 0x0501)
    directory, entries = result(store.listing("/d"))
    assert (directory.children, directory.subdirectories) == (5, 1)
    assert [(s.name, s.inode.type) for s in entries] == [
        ("dev", "CHAR_DEVICE"), ("f", "FILE"), ("g", "FILE"), ("s", "SYMLINK"), ("sub", "DIRECTORY")]
    assert result(store.status("/d")).subdirectories == 1
    assert result(store.delete("/d/f", recursive=False)) is True
    inode, extents = result(store.stat("/d/g"))
    assert (inode.nlink, extents) == (1, [Extent(A, 0, 10, 10)])
    assert result(store.block_targets()) == {A: block_target(3, 10)}
    assert result(store.delete("/d", recursive=True)) is True
    assert result(store.forget_unreferenced_blocks()) == 1
    assert result(store.namespace_problems()) == []


def test_xattrs_go_with_their_inode_and_format_wipes_them(store):
    result(store.create("/d/f", [], overwrite=False))
    result(store.set_xattr("/d/f", "user.a", b"1", True, False))
    result(store.set_xattr("/d", "user.dir", b"", True, False))
    result(store.create("/d/f", [Extent(A, 0, 4, 4)], overwrite=True))  # the same inode: kept
    assert result(store.xattrs("/d/f")) == {"user.a": b"1"}
    assert result(store.rename("/d/f", "/g"))
    assert result(store.xattrs("/g")) == {"user.a": b"1"}
    result(store.delete("/g", False))
    result(store.create("/g", [], overwrite=False))
    assert result(store.xattrs("/g")) == {}
    result(store.format())
    result(store.mkdirs("/d"))
    assert result(store.xattrs("/d")) == {}


def test_quotas_refuse_growth_not_shrinking_or_moves_inside(store):
    result(store.mkdirs("/q/sub"))
    result(store.create("/q/sub/f", [Extent(A, 0, 10, 10)], overwrite=False, replication=2))
    result(store.set_quota("/q", names=3, space=20))
    with pytest.raises(NSQuotaExceeded):
        result(store.mkdirs("/q/other"))
    with pytest.raises(DSQuotaExceeded):
        result(store.append("/q/sub/f", [Extent(A, 0, 1, 10)]))
    assert result(store.rename("/q/sub/f", "/q/f"))  # within /q: no growth
    result(store.set_quota("/q", names=2))  # below what is there: still allowed to shrink
    assert result(store.delete("/q/sub", False))
    summary = result(store.content_summary("/q"))
    assert (summary.quota, summary.space_quota, summary.files, summary.directories) == (2, 20, 1, 1)
    with pytest.raises(NSQuotaExceeded):
        result(store.check_quota("/q/new", 0))
    with pytest.raises(DSQuotaExceeded):
        result(store.check_quota("/q/f", 2, append=True))
    result(store.check_quota("/q/f", 20))  # an overwrite replacing 20 bytes with 20
    result(store.set_quota("/q", names=-1, space=-1))
    assert result(store.check_quota("/q/new", 10 ** 6)) is None


def test_mkdirs_of_an_existing_directory_returns_its_inode(store):
    """The audit trail prints the inode MKDIRS returns, also when the directory was already there."""
    made = result(store.mkdirs("/d"))
    again = result(store.mkdirs("/d"))
    assert (again.id, again.type) == (made.id, "DIRECTORY")


def test_a_copy_belongs_to_the_caller_in_its_new_directorys_group(store):
    """COPY kept the source's owner and group, so anyone who could read a file could make files owned by someone
    else (in a sticky /tmp, files that owner would then have to clean up). A caller's copy is the caller's, as cp's."""
    result(store.mkdirs("/alice", owner="alice", group="alice"))
    result(store.create("/alice/d/f", [Extent(A, 0, 10, 10)], overwrite=False, owner="alice", group="alice"))
    result(store.mkdirs("/shared", owner="hdfs", group="staff"))
    result(store.copy("/alice/d", "/shared/d", owner="bob"))
    copied = [result(store.status(p)).inode for p in ("/shared/d", "/shared/d/f")]
    assert [(i.owner, i.group) for i in copied] == [("bob", "staff"), ("bob", "staff")]
    result(store.copy("/alice/d/f", "/shared/kept"))  # no caller named: the source's owners, as `cp -p`
    assert (result(store.status("/shared/kept")).inode.owner, result(store.status("/shared/kept")).inode.group) == (
        "alice", "alice")
