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
    """Drop the block's pages from the page cache, trying a few times (the kernel may keep a page another CPU just
    touched); skip where the file system keeps them (tmpfs)."""
    fd = os.open(store.path(block_id), os.O_RDONLY)
    try:
        os.fsync(fd)
        for _ in range(5):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            try:
                os.preadv(fd, [bytearray(4096)], 0, os.RWF_NOWAIT)
            except BlockingIOError:
                # That read started the kernel's read-ahead all the same: let it finish, then drop the pages again.
                os.pread(fd, os.fstat(fd).st_size, 0)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
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
    # The kernel does not always drop a page when asked (1 run in 12 kept one on a busy machine): a read that found
    # the block cached after all proves nothing either way, so drop it again, a few times at most.
    for _ in range(5):
        evicted(store, block_id)
        assert await app._read_local(block_id, 10, 4096) == data[10:4106]
        if threaded:
            break
    assert threaded == ["read_verified_sync"], "a cold read goes to a disk thread"
    assert await app._read_local(block_id, 10, 4096) == data[10:4106]
    assert threaded == ["read_verified_sync"], "a warm read stays on the reactor"
