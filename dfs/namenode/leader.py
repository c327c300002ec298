"""Which namenode runs background work (repair, trimming, GC, the trash emptier): the holder of a lease in the
database, renewed every few seconds. A namenode leads only while the lease it last renewed runs on its own clock,
counted from before it asked, so it stops before any other namenode can take over.
"""

import uuid

from twisted.internet import defer
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

log = Logger()

LEASE = 10.0  # seconds: another namenode takes over at most LEASE + RENEW_EVERY after the leader stops renewing
RENEW_EVERY = 2.0


class Leadership:
    """This namenode's claim on the lease. ``epoch`` is its lease's epoch while it leads, else None."""

    def __init__(self, store, clock, lease=LEASE, renew_every=RENEW_EVERY):
        self.store = store
        self.clock = clock
        self.lease = lease
        self.renew_every = renew_every
        self.holder = uuid.uuid4().hex  # a restarted namenode is a new holder: it waits for its old lease to run out
        self._epoch = None
        self._until = 0.0  # on this process's clock
        self._loop = LoopingCall(self.renew)
        self._loop.clock = clock

    @property
    def epoch(self):
        return self._epoch if self.clock.seconds() < self._until else None

    def start(self):
        self._loop.start(self.renew_every, now=True).addErrback(lambda f: log.failure("lease upkeep stopped", f))

    def stop(self):
        if self._loop.running:
            self._loop.stop()

    def renew(self):
        """Take or renew the lease; a Deferred that never fails (a database that cannot be reached: not leading)."""
        asked = self.clock.seconds()
        d = defer.Deferred.fromCoroutine(self._claim(asked))
        d.addErrback(lambda f: log.warn("lease renewal failed: {e}", e=f.getErrorMessage()))
        return d

    async def _claim(self, asked):
        epoch = await self.store.claim_leadership(self.holder, self.lease)
        if epoch != self._epoch:
            if epoch is None:
                log.info("another namenode leads background work now (this one led epoch {epoch})", epoch=self._epoch)
            else:
                log.info("this namenode leads background work, epoch {epoch}", epoch=epoch)
        self._epoch = epoch
        self._until = asked + self.lease if epoch is not None else 0.0
