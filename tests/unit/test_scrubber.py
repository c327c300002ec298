"""The scrubber re-hashes stored blocks at a bounded rate and finds bit rot that leaves size and mtime alone."""

import io
import os

from twisted.internet import defer
from twisted.internet.task import Clock

from dfs.datanode.blockstore import BlockStore
from dfs.datanode.scrubber import STEP, Scrubber


def rot(path):
    """Flip one byte in place, then put the mtime back: what a failing disk does, unlike a write."""
    st = os.stat(path)
    with open(path, "r+b") as f:
        first = f.read(1)
        f.seek(0)
        f.write(bytes([first[0] ^ 0xFF]))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_a_pass_finds_rot_that_keeps_the_mtime(tmp_path):
    store = BlockStore(str(tmp_path / "dn"))
    blocks = [os.urandom(4096) for _ in range(5)]
    stored = store.commit_many_sync(io.BytesIO(b"".join(blocks)), [len(b) for b in blocks])
    bad = stored[2][0]
    rot(store.path(bad))

    trips, reported = [], []

    def in_thread(fn, *args):
        trips.append(args)
        return defer.succeed(fn(*args))

    def report_corrupt(block_ids):
        reported.extend(block_ids)
        return defer.succeed(None)

    clock = Clock()
    scrubber = Scrubber(store, in_thread, report_corrupt, clock, rate=1 << 20)
    scrubber.start()
    clock.advance(1.0)
    assert len(trips) == 1, "small blocks are checked many to a trip to a disk thread"
    assert reported == [bad] and not store.has(bad)
    assert os.path.exists(os.path.join(store.quarantine, bad))
    assert scrubber.stats["checked"] == 5 and scrubber.stats["corrupt"] == 1
    scrubber.stop()


def test_each_step_keeps_to_the_rate(tmp_path):
    store = BlockStore(str(tmp_path / "dn"))
    blocks = [os.urandom(64 * 1024) for _ in range(8)]
    store.commit_many_sync(io.BytesIO(b"".join(blocks)), [len(b) for b in blocks])
    trips = []

    def in_thread(fn, *args):
        verdicts = fn(*args)
        trips.append(len(verdicts))
        return defer.succeed(verdicts)

    clock = Clock()
    rate = 128 * 1024 / STEP  # two blocks' worth per step
    scrubber = Scrubber(store, in_thread, lambda ids: defer.succeed(None), clock, rate=rate)
    scrubber.start()
    clock.advance(1.0)
    assert trips == [2]
    clock.advance(STEP - 0.001)
    assert trips == [2], "the next step waits until the bytes checked fit the rate"
    clock.advance(0.002)
    assert trips == [2, 2]
    scrubber.stop()
