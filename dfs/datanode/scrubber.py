"""Re-reads and re-hashes every block once per period, so bit rot is found before a reader needs the block.

Like HDFS's block scanner: a pass checks every block under a budget, then the scrubber sleeps until the next period
begins; an idle datanode spends nothing between passes. The budget counts a cost per block as well as per byte, so
thousands of small blocks are not re-hashed back to back. Where a pass stands is kept in ``scrubber.json`` beside the
blocks, so a restarted datanode neither starts over nor checks again what it checked this period.
"""

import json
import os

from twisted.internet import defer
from twisted.logger import Logger

from dfs.datanode.blockstore import write_json_atomically

log = Logger()

STEP = 0.25  # seconds' worth of the budget checked per trip to a disk thread
# What checking one block costs beyond its bytes (opening it, a stat, Python's share of a trip to a disk thread),
# counted as this many bytes of the rate: at 32 MiB/s, at most 128 small blocks a second.
BLOCK_COST = 256 * 1024
DAY = 24 * 3600.0
SAVE_EVERY = 60.0  # seconds between saves of the position within a pass


class Scrubber:
    """Walks the blocks in id order, at most ``rate`` bytes/s (each block counting ``BLOCK_COST`` more), one pass
    every ``period`` seconds. Small blocks are checked many to a trip to a disk thread: one trip per block cost a
    datanode's reactor more than the checks did."""

    def __init__(self, store, in_thread, report_corrupt, clock, rate=32 * 1024 * 1024, period=21 * DAY):
        self.store = store
        self.in_thread = in_thread
        self.report_corrupt = report_corrupt
        self.clock = clock
        self.rate = rate
        self.period = period
        self.state_path = os.path.join(store.root, "scrubber.json")
        self.pass_started = None  # when the current (or last) pass began, in the clock's seconds
        self.finished = False  # whether that pass is complete
        self.cursor = ""  # the last block id it checked
        self._pass = []
        self._saved_at = None
        self.stats = {"checked": 0, "corrupt": 0, "passes": 0, "position": 0, "total": 0}
        self._call = None
        self._stopped = True

    def start(self):
        if self.rate > 0:
            self._stopped = False
            self._load()
            self._schedule(1.0)

    def stop(self):
        self._stopped = True
        if self._call is not None and self._call.active():
            self._call.cancel()

    def _load(self):
        try:
            with open(self.state_path) as f:
                state = json.load(f)
            self.pass_started, self.finished, self.cursor = (float(state["pass_started"]), bool(state["finished"]),
                                                             str(state["cursor"]))
        except FileNotFoundError:
            pass
        except (ValueError, KeyError, TypeError) as e:
            log.warn("ignoring unreadable {path}: {e}", path=self.state_path, e=e)

    async def _save(self):
        self._saved_at = self.clock.seconds()
        state = {"pass_started": self.pass_started, "finished": self.finished, "cursor": self.cursor}
        await self.in_thread(write_json_atomically, self.state_path, state)

    def _schedule(self, delay):
        if not self._stopped:
            self._call = self.clock.callLater(delay, self._step)

    def _step(self):
        d = defer.Deferred.fromCoroutine(self._check_next())
        d.addErrback(lambda f: log.warn("scrubber step failed: {e}", e=f.getErrorMessage()) or 1.0)
        d.addCallback(self._schedule)

    def _begin_pass(self, now):
        """Start (or resume) this period's pass; returns the seconds until the next period when it is done."""
        if self.finished:
            wait = self.pass_started + self.period - now
            if wait > 0:
                return wait
        if self.finished or self.pass_started is None:
            self.pass_started, self.finished, self.cursor = now, False, ""
        # One sorted snapshot per pass (resumed after the cursor): blocks written meanwhile wait for the next pass.
        ids = list(self.store.block_ids)  # a copy first: disk threads add and remove ids meanwhile
        self._pass = sorted((b for b in ids if b > self.cursor), reverse=True)
        self.stats.update(total=len(self._pass), position=0)
        return 0

    async def _check_next(self):
        """Re-hash the next blocks of this pass, as many as STEP seconds of the budget allow (at least one);
        returns how long to wait before the next ones."""
        now = self.clock.seconds()
        if not self._pass:
            wait = self._begin_pass(now)
            if wait:
                return wait
        batch, cost = [], 0
        while self._pass and (not batch or cost < self.rate * STEP):
            block_id = self._pass.pop()
            self.stats["position"] += 1
            if self.store.has(block_id):  # else deleted since the pass began
                batch.append(block_id)
                cost += self.store.size_of(block_id) + BLOCK_COST
        if batch:
            verdicts = await self.in_thread(lambda: [self.store.verify_sync(block_id) for block_id in batch])
            self.cursor = batch[-1]
            self.stats["checked"] += len(batch)
            corrupt = [block_id for block_id, good in zip(batch, verdicts) if good is False]  # None: it vanished
            if corrupt:
                self.stats["corrupt"] += len(corrupt)
                await self.report_corrupt(corrupt)
        if not self._pass:
            self.finished = True
            self.stats["passes"] += 1
            await self._save()
        elif self._saved_at is None or now - self._saved_at >= SAVE_EVERY:
            await self._save()
        return max(0.01, cost / self.rate)
