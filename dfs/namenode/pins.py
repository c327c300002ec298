"""Pins: the blocks uploads in flight may still commit, held in the database where every namenode's GC sees them.

A pin is taken (and committed) before any datanode is asked to store or confirm the block, and released once the
upload committed or gave up. Each pin is a row (block, owner, expires): the owner is this namenode process, which
renews its pins' expiry while it runs, so the pins of a namenode that died expire by themselves after ``lease``.
Released pins leave the database in batches, every ``flush_every`` seconds: a pin that outlives its upload by a
second only delays GC, and a write less per upload keeps small files fast.
"""

import uuid
from collections import Counter

from twisted.internet.task import LoopingCall
from twisted.logger import Logger

log = Logger()

LEASE = 120.0  # seconds a pin outlives its namenode; renewed every quarter of it
FLUSH_EVERY = 1.0


class Pins:
    """This namenode's pins; ``block_id in pins`` says whether one of its uploads holds that block."""

    def __init__(self, store, clock, lease=LEASE, flush_every=FLUSH_EVERY):
        self.store = store
        self.clock = clock
        self.lease = lease
        self.flush_every = flush_every
        self.owner = uuid.uuid4().hex  # a restarted namenode is a new owner: its old pins just expire
        self._held = Counter()  # block id -> uploads of this namenode holding it
        self._released = set()  # rows to delete at the next flush
        self._loops = [LoopingCall(self.renew), LoopingCall(self.flush)]
        for loop in self._loops:
            loop.clock = clock

    def __contains__(self, block_id):
        return block_id in self._held

    def start(self):
        for loop, every in zip(self._loops, (self.lease / 4, self.flush_every)):
            loop.start(every, now=False).addErrback(lambda f: log.failure("pin upkeep stopped", f))

    def stop(self):
        for loop in self._loops:
            if loop.running:
                loop.stop()

    async def pin(self, block_id):
        """Hold ``block_id`` for one upload; returns once the pin is committed (visible to any GC)."""
        self._held[block_id] += 1
        self._released.discard(block_id)
        try:
            await self.store.pin(block_id, self.owner, self.clock.seconds() + self.lease)
        except BaseException:
            self.release(block_id)
            raise

    def release(self, block_id):
        """One upload is done with ``block_id``; the row goes at the next flush if no upload holds it then."""
        self._held[block_id] -= 1
        if self._held[block_id] <= 0:
            del self._held[block_id]
            self._released.add(block_id)

    def flush(self):
        """Delete the rows of released pins. The store runs changes in order, so a pin taken after this call
        (which takes its block out of the released set) is written after the delete and stays."""
        released, self._released = self._released, set()
        if not released:
            return None
        d = self.store.unpin(sorted(released), self.owner)
        d.addErrback(lambda f: log.warn("unpinning failed, the pins expire instead: {e}", e=f.getErrorMessage()))
        return d

    def renew(self):
        now = self.clock.seconds()
        d = self.store.renew_pins(self.owner, now + self.lease, now)
        d.addErrback(lambda f: log.warn("pin renewal failed: {e}", e=f.getErrorMessage()))
        return d
