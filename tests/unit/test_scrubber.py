"""The scrubber re-hashes stored blocks at a bounded rate and finds bit rot that leaves size and mtime alone."""

import io
import os

from twisted.internet import defer
from twisted.internet.task import Clock

from dfs.datanode.blockstore import BlockStore
from dfs.datanode.scrubber import BLOCK_COST, DAY, STEP, Scrubber


def rot(path):
    """Flip one byte in place, then put the mtime back: what a failing disk does, unlike a write."""
    st = os.stat(path)
    with open(path, "r+b") as f:
        first = f.read(1)
        f.seek(0)
        f.write(bytes([first[0] ^ 0xFF]))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


class Disk:
    """A synchronous stand-in for the datanode's disk threads that counts the trips made to verify blocks."""

    def __init__(self):
        self.verify_trips = []

    def in_thread(self, fn, *args):
        result = fn(*args)
        if isinstance(result, list):  # a batch of verdicts (the other trips save the scrubber's position)
            self.verify_trips.append(len(result))
        return defer.succeed(result)


def stored(tmp_path, count, size):
    store = BlockStore(str(tmp_path / "dn"))
    blocks = [os.urandom(size) for _ in range(count)]
    return store, [block_id for block_id, _ in store.commit_many_sync(io.BytesIO(b"".join(blocks)),
                                                                       [size] * count)]


def scrubber_on(store, clock, disk, reported=None, **kwargs):
    def report_corrupt(block_ids):
        reported.extend(block_ids)
        return defer.succeed(None)

    return Scrubber(store, disk.in_thread, report_corrupt if reported is not None else None, clock, **kwargs)


def test_a_pass_finds_rot_that_keeps_the_mtime(tmp_path):
    store, ids = stored(tmp_path, 5, 4096)
    bad = ids[2]
    rot(store.path(bad))
    clock, disk, reported = Clock(), Disk(), []
    scrubber = scrubber_on(store, clock, disk, reported)
    scrubber.start()
    clock.advance(1.0)
    assert disk.verify_trips == [5], "small blocks are checked many to a trip to a disk thread"
    assert reported == [bad] and not store.has(bad)
    assert os.path.exists(os.path.join(store.volumes[0].quarantine, bad))
    assert scrubber.stats["checked"] == 5 and scrubber.stats["corrupt"] == 1
    scrubber.stop()


def test_a_block_deleted_under_the_scrubber_is_not_reported_corrupt(tmp_path):
    store, ids = stored(tmp_path, 3, 4096)
    os.remove(store.path(ids[1]))  # GC (or a hand) removed it after the pass took its snapshot
    clock, disk, reported = Clock(), Disk(), []
    scrubber = scrubber_on(store, clock, disk, reported)
    scrubber.start()
    clock.advance(1.0)
    assert scrubber.stats["checked"] == 3 and reported == [] and scrubber.stats["corrupt"] == 0
    assert not store.has(ids[1]), "forgotten: the next block report leaves it out"


def test_each_step_keeps_to_the_budget_of_bytes_and_blocks(tmp_path):
    store, _ = stored(tmp_path, 8, 64 * 1024)
    clock, disk = Clock(), Disk()
    rate = 2 * (64 * 1024 + BLOCK_COST) / STEP  # two blocks' worth per step
    scrubber = scrubber_on(store, clock, disk, rate=rate)
    scrubber.start()
    clock.advance(1.0)
    assert disk.verify_trips == [2]
    clock.advance(STEP - 0.001)
    assert disk.verify_trips == [2], "the next step waits until what was checked fits the budget"
    clock.advance(0.002)
    assert disk.verify_trips == [2, 2]
    scrubber.stop()


def test_small_blocks_pay_a_cost_per_block(tmp_path):
    """By bytes alone, 1 KiB blocks at 32 MiB/s would be re-hashed 32,000 a second, without pause."""
    store, _ = stored(tmp_path, 200, 1024)
    clock, disk = Clock(), Disk()
    scrubber = scrubber_on(store, clock, disk, rate=32 * 1024 * 1024)
    scrubber.start()
    clock.pump([1.0] + [0.05] * 20)
    assert 100 <= scrubber.stats["checked"] <= 2 * 128, "about 128 blocks a second"
    clock.pump([0.05] * 40)
    assert scrubber.stats["checked"] == 200
    scrubber.stop()


def test_every_block_once_per_period_and_nothing_between(tmp_path):
    store, _ = stored(tmp_path, 20, 1024)
    clock, disk = Clock(), Disk()
    scrubber = scrubber_on(store, clock, disk, period=DAY)
    scrubber.start()
    clock.advance(1.0)
    assert scrubber.stats == {"checked": 20, "corrupt": 0, "passes": 1, "position": 20, "total": 20}
    wakeups = 0
    while clock.seconds() < DAY:
        clock.advance(min(calls.getTime() for calls in clock.getDelayedCalls()) - clock.seconds())
        wakeups += 1
    assert scrubber.stats["checked"] == 40 and scrubber.stats["passes"] == 2
    assert wakeups <= 3, "an idle datanode sleeps until the next period instead of polling"
    scrubber.stop()


def test_a_restarted_datanode_resumes_the_pass_and_keeps_the_period(tmp_path):
    store, ids = stored(tmp_path, 6, 1024)
    clock, disk = Clock(), Disk()
    rate = 2 * (1024 + BLOCK_COST) / STEP  # two blocks per step
    first = scrubber_on(store, clock, disk, rate=rate, period=DAY)
    first.start()
    clock.advance(1.0)
    first.stop()
    assert disk.verify_trips == [2]

    second = scrubber_on(store, clock, disk, rate=rate, period=DAY)
    second.start()
    clock.pump([1.0, STEP, STEP])
    assert disk.verify_trips == [2, 2, 2], "the pass went on after the cursor, not from the start"
    second.stop()

    third = scrubber_on(store, clock, disk, rate=rate, period=DAY)
    third.start()
    clock.advance(DAY / 2)
    assert disk.verify_trips == [2, 2, 2], "the pass of this period is done: the next one waits for the period"
    clock.advance(DAY / 2)
    assert disk.verify_trips == [2, 2, 2, 2]
    third.stop()
