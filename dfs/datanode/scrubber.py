"""Re-reads and re-hashes every block at a bounded rate, so bit rot is found before a reader needs the block."""

from twisted.internet import defer
from twisted.logger import Logger

log = Logger()


class Scrubber:
    """Walks the blocks in id order, one at a time, pausing so that at most ``rate`` bytes/s are read."""

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
        """Verify the next block of this pass; returns how long to wait before the one after."""
        if not self._pass:
            if self.stats["position"]:
                self.stats["passes"] += 1
            # One sorted snapshot per pass: blocks written meanwhile wait for the next pass.
            self._pass = sorted(self.store.block_ids, reverse=True)
            self.stats.update(total=len(self._pass), position=0)
            if not self._pass:
                return 5.0
        block_id = self._pass.pop()
        self.cursor = block_id
        self.stats["position"] += 1
        if not self.store.has(block_id):
            return 0.01  # deleted since the pass began
        size = self.store.size_of(block_id)
        good = await self.in_thread(self.store.verify_sync, block_id)
        self.stats["checked"] += 1
        if not good:
            self.stats["corrupt"] += 1
            await self.report_corrupt([block_id])
        return max(0.01, size / self.rate)
