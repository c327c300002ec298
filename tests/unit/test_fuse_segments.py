"""The mount's block cache keeps the chunks it fetched, a sparse file per segment: a small read fetches only the
chunks it lacks, never a whole segment or block; read-ahead opens only for a sequential reader."""

import os
import threading
import time

from dfs.chunks import CHUNK_SIZE as CHUNK
from dfs.fuse.caches import SEGMENT, BlockCache
from dfs.fuse.operations import IO_SIZE, READ_AHEAD_FIRST, READ_AHEAD_MAX, _Handle


class FakeClient:
    """Serves ranges of in-memory blocks and remembers what was asked; ``gate``, when set, holds every fetch."""

    def __init__(self, blocks):
        self.blocks = blocks
        self.fetched = []
        self.gate = None

    def fetch_block(self, location, fileobj, start=0, count=None):
        if self.gate is not None:
            assert self.gate.wait(30)
        self.fetched.append((location["blockId"], start, count))
        fileobj.write(self.blocks[location["blockId"]][start:start + count])


def location(block_id, size):
    return {"blockId": block_id, "blockSize": size, "blockOffset": 0, "length": size}


def test_reads_fetch_only_the_chunks_they_lack(tmp_path):
    data = os.urandom(SEGMENT + 3 * CHUNK + 100)
    client = FakeClient({"b": data})
    cache = BlockCache(client, str(tmp_path), limit=4 * SEGMENT)
    loc = location("b", len(data))
    assert cache.read(loc, 5, 4096) == data[5:4101]
    assert client.fetched == [("b", 0, CHUNK)]
    assert cache.read(loc, CHUNK - 10, 20) == data[CHUNK - 10:CHUNK + 10]
    assert client.fetched[1:] == [("b", CHUNK, CHUNK)], "the chunk held is not fetched again"
    assert cache.read(loc, SEGMENT - 10, 20) == data[SEGMENT - 10:SEGMENT + 10]
    assert client.fetched[2:] == [("b", SEGMENT - CHUNK, CHUNK), ("b", SEGMENT, CHUNK)]
    assert cache.read(loc, SEGMENT + 3 * CHUNK, 100) == data[-100:]
    assert client.fetched[4:] == [("b", SEGMENT + 3 * CHUNK, 100)], "the block's short last chunk"
    assert cache.read(loc, 0, 2 * CHUNK) == data[:2 * CHUNK] and len(client.fetched) == 5


def test_one_request_fetches_from_the_first_missing_chunk_to_the_last(tmp_path):
    data = os.urandom(8 * CHUNK)
    client = FakeClient({"b": data})
    cache = BlockCache(client, str(tmp_path), limit=SEGMENT)
    loc = location("b", len(data))
    for chunk in (0, 2, 6):
        cache.read(loc, chunk * CHUNK, 1)
    cache.prefetch(loc, 0, 5 * CHUNK)
    assert client.fetched[3:] == [("b", CHUNK, 4 * CHUNK)]
    assert cache.read(loc, 0, len(data)) == data
    assert client.fetched[4:] == [("b", 5 * CHUNK, 3 * CHUNK)], "chunk 6, held, comes again in the one request"


def test_the_cache_keeps_to_its_limit(tmp_path):
    data = os.urandom(4 * SEGMENT)
    client = FakeClient({"b": data})
    cache = BlockCache(client, str(tmp_path), limit=2 * CHUNK)
    loc = location("b", len(data))
    for index in range(4):
        assert cache.read(loc, index * SEGMENT, 1) == data[index * SEGMENT:index * SEGMENT + 1]
    assert len(os.listdir(tmp_path)) == 2
    assert sum(os.stat(tmp_path / name).st_blocks * 512 for name in os.listdir(tmp_path)) <= 2 * CHUNK + 8192, \
        "a segment file holds its fetched chunks only (sparse)"
    assert cache.read(loc, 0, 1) == data[:1] and len(client.fetched) == 5


def test_readers_of_the_same_chunk_share_one_fetch(tmp_path):
    data = os.urandom(2 * CHUNK)
    client = FakeClient({"b": data})
    client.gate = threading.Event()
    cache = BlockCache(client, str(tmp_path), limit=SEGMENT)
    loc = location("b", len(data))
    results = []
    readers = [threading.Thread(target=lambda: results.append(cache.read(loc, 10, 100))) for _ in range(2)]
    for reader in readers:
        reader.start()
    deadline = time.monotonic() + 30
    while cache._users.get(("b", 0)) != 2:
        assert time.monotonic() < deadline, "both readers wait on the one fetch"
        time.sleep(0.01)
    client.gate.set()
    for reader in readers:
        reader.join(30)
    assert results == [data[10:110]] * 2 and client.fetched == [("b", 0, CHUNK)]


class GatedClient(FakeClient):
    """Holds the fetches from ``start`` until ``gates[start]`` is set; one with ``failing[start]`` fails once."""

    def __init__(self, blocks):
        super().__init__(blocks)
        self.gates, self.failing = {}, set()

    def fetch_block(self, location, fileobj, start=0, count=None):
        gate = self.gates.get(start)
        if gate is not None:
            assert gate.wait(30)
        if start in self.failing:
            self.failing.discard(start)
            raise OSError("the replica went away")
        super().fetch_block(location, fileobj, start, count)


def in_thread(fn, *args):
    results = []
    thread = threading.Thread(target=lambda: results.append(fn(*args)))
    thread.start()
    return thread, results


def test_readers_of_other_chunks_of_a_segment_never_wait_for_each_other(tmp_path):
    """Random readers of one file fetch chunks of the same 16 MiB segment at once: none waits for another's."""
    data = os.urandom(8 * CHUNK)
    client = GatedClient({"b": data})
    client.gates[0] = threading.Event()
    cache = BlockCache(client, str(tmp_path), limit=SEGMENT)
    loc = location("b", len(data))
    slow, slow_result = in_thread(cache.read, loc, 10, 100)
    fast, fast_result = in_thread(cache.read, loc, 5 * CHUNK, 100)
    fast.join(30)
    assert fast_result == [data[5 * CHUNK:5 * CHUNK + 100]], "the read of chunk 5 waited for the fetch of chunk 0"
    assert slow.is_alive()
    client.gates[0].set()
    slow.join(30)
    assert slow_result == [data[10:110]]
    assert sorted(client.fetched) == [("b", 0, CHUNK), ("b", 5 * CHUNK, CHUNK)]


def test_a_reader_takes_over_the_chunks_of_a_fetch_that_failed(tmp_path):
    data = os.urandom(2 * CHUNK)
    client = GatedClient({"b": data})
    client.gates[0], client.failing = threading.Event(), {0}
    cache = BlockCache(client, str(tmp_path), limit=SEGMENT)
    loc = location("b", len(data))
    failing, failed = in_thread(lambda: _outcome(cache.read, loc, 0, 100))
    deadline = time.monotonic() + 30
    while cache._users.get(("b", 0)) != 1:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    waiting, waited = in_thread(cache.read, loc, 50, 100)
    while cache._users.get(("b", 0)) != 2:
        assert time.monotonic() < deadline, "the second reader waits on the first one's fetch"
        time.sleep(0.01)
    client.gates[0].set()
    failing.join(30)
    waiting.join(30)
    assert isinstance(failed[0], OSError) and waited == [data[50:150]]
    assert client.fetched == [("b", 0, CHUNK)], "the second reader fetched the chunk itself, once"


def _outcome(fn, *args):
    try:
        return fn(*args)
    except OSError as e:
        return e


def test_random_reads_read_nothing_ahead():
    handle = _Handle(None, writable=False, append=False)
    for offset in (5 << 20, 40 << 20, 12 << 20, 3 << 20):
        assert handle.read_ahead(offset, offset + 4096) is None


def test_a_sequential_reader_gets_a_window_that_doubles_to_whole_segments():
    handle = _Handle(None, writable=False, append=False)
    asked, offset = [], 0
    while offset < 100 * SEGMENT:
        ahead = handle.read_ahead(offset, offset + IO_SIZE)
        if ahead is not None:
            assert ahead[0] == (asked[-1][1] if asked else IO_SIZE), "each range follows the last"
            asked.append(ahead)
        offset += IO_SIZE
        assert handle.window <= READ_AHEAD_MAX
    assert asked[0] == (IO_SIZE, 2 * READ_AHEAD_FIRST)
    assert handle.window == READ_AHEAD_MAX and len(asked) <= 100 + 16, "a request a segment, after a short ramp"
    steady = asked[-50:]
    assert all(stop - start == SEGMENT and start % SEGMENT == 0 for start, stop in steady), steady


def test_a_read_near_the_last_one_asks_little():
    handle = _Handle(None, writable=False, append=False)
    assert handle.read_ahead(50 << 20, (50 << 20) + 4096) is None
    start, stop = handle.read_ahead((50 << 20) + 8192, (50 << 20) + 12288)
    assert stop - start <= 2 * READ_AHEAD_FIRST
