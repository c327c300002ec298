"""The namespace store, run synchronously (no reactor: transactions run in the calling thread)."""

import json

import pytest
import pytest_twisted

from dfs.errors import AlreadyExists, BadRequest, DirectoryNotEmpty, FileNotFound, IsADirectory, NotADirectory
from dfs.namenode import webhdfs
from dfs.namenode.metadata import Extent, Store

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
def store(tmp_path):
    s = Store(str(tmp_path / "ns.sqlite"))
    s.start()
    yield s
    s.stop()


def test_create_list_stat(store):
    result(store.create("/d/f", [Extent(A, 0, 10, 10)], overwrite=False))
    row, extents = result(store.stat("/d/f"))
    assert row["size"] == 10 and extents == [Extent(A, 0, 10, 10)]
    assert [c["pathSuffix"] for c in listed(store, "/d")] == ["f"]
    assert listed(store, "/")[0]["childrenNum"] == 1
    assert result(store.children_json("/d/f", webhdfs.CHILDREN_STATUS_JSON)) is None


def listed(store, path):
    return json.loads(result(store.children_json(path, webhdfs.CHILDREN_STATUS_JSON)))


def test_listing_json_built_by_sqlite_matches_file_status(store):
    """LISTSTATUS builds its JSON in SQL for speed; it must say exactly what webhdfs.file_status says."""
    result(store.create("/d/b file é", [Extent(A, 0, 10, 10)], overwrite=False, replication=2, mode=0o1750))
    result(store.mkdirs("/d/a dir/sub"))
    result(store.create("/d/a dir/g", [Extent(B, 0, 5, 5)], overwrite=False))
    expected = [webhdfs.file_status(dict(result(store.status(f"/d/{name}")), children=children), name)
                for name, children in (("a dir", 2), ("b file é", 0))]
    assert listed(store, "/d") == expected
    assert listed(store, "/d/a dir/sub") == []


def test_overwrite_requires_flag_and_replaces_atomically(store):
    result(store.create("/f", [Extent(A, 0, 10, 10)], overwrite=False))
    with pytest.raises(AlreadyExists):
        result(store.create("/f", [Extent(B, 0, 5, 5)], overwrite=False))
    before = result(store.status("/f"))["mtime"]
    result(store.create("/f", [Extent(B, 0, 5, 5)], overwrite=True))
    row, extents = result(store.stat("/f"))
    assert extents == [Extent(B, 0, 5, 5)] and row["mtime"] > before


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
    assert result(store.status("/into/e/f"))["type"] == "FILE"
    with pytest.raises(Exception):
        result(store.rename("/into", "/into/e/inside"))
    assert result(store.delete("/into", recursive=True)) is True
    assert result(store.delete("/nothing", recursive=True)) is False


def test_rename_overwrite_replaces_file(store):
    result(store.create("/a", [Extent(A, 0, 1, 1)], overwrite=False))
    result(store.create("/b", [Extent(B, 0, 1, 1)], overwrite=False))
    with pytest.raises(AlreadyExists):
        result(store.rename("/a", "/b"))
    result(store.rename("/a", "/b", overwrite=True))
    assert result(store.stat("/b"))[1] == [Extent(A, 0, 1, 1)]


def test_append_truncate_concat_copy(store):
    result(store.create("/f", [Extent(A, 0, 10, 10)], overwrite=False))
    result(store.append("/f", [Extent(B, 0, 6, 6)]))
    assert result(store.status("/f"))["size"] == 16
    result(store.truncate("/f", 12))
    assert result(store.stat("/f"))[1] == [Extent(A, 0, 10, 10), Extent(B, 0, 2, 6)]
    with pytest.raises(BadRequest):
        result(store.truncate("/f", 100))
    result(store.copy("/f", "/g"))
    assert result(store.stat("/g"))[1] == result(store.stat("/f"))[1]
    result(store.create("/h", [Extent(A, 0, 3, 10)], overwrite=False))
    result(store.concat("/f", ["/h"]))
    assert result(store.status("/f"))["size"] == 15
    with pytest.raises(FileNotFound):
        result(store.status("/h"))


def test_block_targets_and_unreferenced(store):
    result(store.create("/f", [Extent(A, 0, 10, 10)], overwrite=False, replication=2))
    result(store.create("/g", [Extent(A, 0, 10, 10), Extent(B, 0, 4, 4)], overwrite=False, replication=3))
    assert result(store.block_targets()) == {A: (3, 10), B: (3, 4)}
    result(store.delete("/g", recursive=False))
    assert result(store.forget_unreferenced_blocks()) == 1
    assert result(store.block_targets()) == {A: (2, 10)}


def test_summary_and_format(store):
    result(store.create("/d/f", [Extent(A, 0, 10, 10)], overwrite=False, replication=3))
    summary = result(store.content_summary("/d"))
    assert summary == {"directoryCount": 1, "fileCount": 1, "length": 10, "spaceConsumed": 30}
    result(store.format())
    assert listed(store, "/") == []
    assert result(store.integrity_check()) == "ok"


def test_survives_reopen(tmp_path):
    s = Store(str(tmp_path / "ns.sqlite"))
    s.start()
    result(s.create("/keep", [Extent(A, 0, 10, 10)], overwrite=False))
    cluster = s.cluster_id
    s.stop()
    s = Store(str(tmp_path / "ns.sqlite"))
    s.start()
    assert s.cluster_id == cluster and result(s.status("/keep"))["size"] == 10
    s.stop()


@pytest_twisted.ensureDeferred
async def test_lookups_run_on_the_reactor_beside_the_writer_thread(tmp_path):
    from twisted.internet import reactor

    s = Store(str(tmp_path / "ns.sqlite"), reactor)
    s.start()
    try:
        await s.create("/a", [Extent(A, 0, 10, 10)], overwrite=False)
        writing = s.create("/b", [Extent(B, 0, 5, 5)], overwrite=False)  # committing on the writer thread
        row, extents = await s.stat("/a")
        assert row["size"] == 10 and extents == [Extent(A, 0, 10, 10)]
        with pytest.raises(FileNotFound):
            await s.stat("/missing")
        with pytest.raises(AlreadyExists):
            await s.check_create("/a", overwrite=False)
        assert not s._lookup_db.in_transaction, "a lookup never leaves its read transaction open"
        await writing
        assert (await s.status("/b"))["size"] == 5
    finally:
        s.stop()
    assert s._lookup_db is None
