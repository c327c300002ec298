"""A small read is answered on the datanode's reactor only when the page cache holds its chunks: one that would
wait for the disk goes to a disk thread, so a cold random read never stalls every other request."""

import os

import pytest
import pytest_twisted
from twisted.internet import defer
from twisted.internet.task import Clock

from dfs import chunks
from dfs.datanode.app import DatanodeApp
from dfs.datanode.blockstore import BlockStore
from dfs.peers import NamenodeClient


def evicted(store, block_id):
    """Drop the block's pages from the page cache; skip where the file system keeps them (tmpfs)."""
    fd = os.open(store.path(block_id), os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        try:
            os.preadv(fd, [bytearray(4096)], 0, os.RWF_NOWAIT)
        except BlockingIOError:
            return
    finally:
        os.close(fd)
    pytest.skip("this file system keeps the block in the page cache")


@pytest_twisted.ensureDeferred
async def test_a_cold_small_read_goes_to_a_disk_thread(tmp_path):
    store = BlockStore(str(tmp_path / "dn"))
    sink = store.new_sink()
    data = os.urandom(4 * chunks.CHUNK_SIZE)
    sink.write(data)
    block_id, _ = store.commit_sync(sink)
    app = DatanodeApp(store, None, Clock(), None, NamenodeClient(None, "http://nn:8180/"))
    threaded = []

    def in_thread(fn, *args):
        threaded.append(fn.__name__)
        return defer.maybeDeferred(fn, *args)

    app.in_thread = in_thread
    evicted(store, block_id)
    with pytest.raises(BlockingIOError):
        store.read_checked_sync(block_id, 10, 4096, cached_only=True)
    assert await app._read_local(block_id, 10, 4096) == data[10:4106]
    assert threaded == ["read_verified_sync"]
    assert await app._read_local(block_id, 10, 4096) == data[10:4106]
    assert threaded == ["read_verified_sync"], "a warm read stays on the reactor"
