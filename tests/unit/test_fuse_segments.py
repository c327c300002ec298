"""The mount's block cache keeps pieces of blocks: a small read fetches one segment, never a whole block."""

import os

from dfs.fuse.caches import SEGMENT, BlockCache
from dfs.fuse.operations import READ_AHEAD, _segments_ahead


class FakeClient:
    """Serves ranges of in-memory blocks and remembers what was asked."""

    def __init__(self, blocks):
        self.blocks = blocks
        self.fetched = []

    def fetch_block(self, location, fileobj, start=0, count=None):
        self.fetched.append((location["blockId"], start, count))
        fileobj.write(self.blocks[location["blockId"]][start:start + count])


def location(block_id, size, block_offset=0, length=None):
    return {"blockId": block_id, "blockSize": size, "blockOffset": block_offset,
            "length": size - block_offset if length is None else length}


def test_reads_fetch_only_the_segments_they_touch(tmp_path):
    data = os.urandom(3 * SEGMENT + 100)
    client = FakeClient({"b": data})
    cache = BlockCache(client, str(tmp_path), limit=64 * SEGMENT)
    loc = location("b", len(data))
    assert cache.read(loc, 5, 4096) == data[5:4101]
    assert client.fetched == [("b", 0, SEGMENT)]
    assert cache.read(loc, SEGMENT - 10, 20) == data[SEGMENT - 10:SEGMENT + 10]
    assert cache.read(loc, 3 * SEGMENT, 100) == data[3 * SEGMENT:]
    assert client.fetched == [("b", 0, SEGMENT), ("b", SEGMENT, SEGMENT), ("b", 3 * SEGMENT, 100)]
    assert not cache.claim("b", 1) and cache.claim("b", 2) and not cache.claim("b", 2), "claimed once"
    cache.prefetch(loc, 2)
    assert client.fetched[-1] == ("b", 2 * SEGMENT, SEGMENT) and not cache.claim("b", 2)


def test_the_cache_keeps_to_its_limit(tmp_path):
    data = os.urandom(4 * SEGMENT)
    client = FakeClient({"b": data})
    cache = BlockCache(client, str(tmp_path), limit=2 * SEGMENT)
    loc = location("b", len(data))
    for index in range(4):
        assert cache.read(loc, index * SEGMENT, 1) == data[index * SEGMENT:index * SEGMENT + 1]
    assert len(os.listdir(tmp_path)) == 2
    assert cache.read(loc, 0, 1) == data[:1] and len(client.fetched) == 5


def test_read_ahead_follows_segments_then_the_next_extent():
    first, second = location("a", 3 * SEGMENT, SEGMENT, SEGMENT + 5), location("b", 9 * SEGMENT, SEGMENT // 2)
    expected = [(first, 2), *[(second, i) for i in range(READ_AHEAD)]]
    assert _segments_ahead(first, SEGMENT, 100, second) == expected[:READ_AHEAD]
    assert _segments_ahead(first, 2 * SEGMENT, 5, None) == []
    assert _segments_ahead(second, 0, 10, None) == [(second, i) for i in range(1, READ_AHEAD + 1)]
