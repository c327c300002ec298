"""Re-reads and re-hashes every block at a bounded rate, so bit rot is found before a reader needs the block."""

from twisted.internet import defer
from twisted.logger import Logger

log = Logger()

STEP = 0.25  # seconds' worth of the rate checked per trip to a disk thread


class Scrubber:
    """Walks the blocks in id order, pausing so that at most ``rate`` bytes/s are read. Small blocks are checked
    many to a trip to a disk thread: one trip per block cost a datanode's reactor more than the checks did."""

    def __init__(self, store, in_thread, report_corrupt, clock, rate=32 * 1024 * 1024):
        self.store = store
        self.in_thread = in_thread
        self.report_corrupt = report_corrupt
        self.clock = clock
        self.rate = rate
        self.cursor = ""
        self._pass = []
        self.stats = {"checked": 0, "corrupt": 0, "passes": 0, "position": 0, "total": 0}
        self._call = None
        self._stopped = True

    def start(self):
        if self.rate > 0:
            self._stopped = False
            self._schedule(1.0)

    def stop(self):
        self._stopped = True
        if self._call is not None and self._call.active():
            self._call.cancel()

    def _schedule(self, delay):
        if not self._stopped:
            self._call = self.clock.callLater(delay, self._step)

    def _step(self):
        d = defer.Deferred.fromCoroutine(self._check_next())
        d.addErrback(lambda f: log.warn("scrubber step failed: {e}", e=f.getErrorMessage()) or 1.0)
        d.addCallback(self._schedule)

    async def _check_next(self):
        """Re-hash the next blocks of this pass, as many as STEP seconds of the rate allow (at least one);
        returns how long to wait before the next ones."""
        if not self._pass:
            if self.stats["position"]:
                self.stats["passes"] += 1
            # One sorted snapshot per pass: blocks written meanwhile wait for the next pass.
            self._pass = sorted(self.store.block_ids, reverse=True)
            self.stats.update(total=len(self._pass), position=0)
            if not self._pass:
                return 5.0
        batch, size = [], 0
        while self._pass and (not batch or size < self.rate * STEP):
            block_id = self._pass.pop()
            self.stats["position"] += 1
            if self.store.has(block_id):  # else deleted since the pass began
                batch.append(block_id)
                size += self.store.size_of(block_id)
        if not batch:
            return 0.01
        self.cursor = batch[-1]
        verdicts = await self.in_thread(lambda: [self.store.verify_sync(block_id) for block_id in batch])
        self.stats["checked"] += len(batch)
        corrupt = [block_id for block_id, good in zip(batch, verdicts) if good is False]
        if corrupt:
            self.stats["corrupt"] += len(corrupt)
            await self.report_corrupt(corrupt)
        return max(0.01, size / self.rate)
