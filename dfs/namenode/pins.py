"""Pins: the blocks uploads in flight may still commit, held in the database where every namenode's GC sees them.

A pin is taken (and committed) before any datanode is asked to store or confirm the block, and released once the
upload committed or gave up. Each pin is a row (block, owner, expires): the owner is this namenode process, which
renews its pins' expiry while it runs, so the pins of a namenode that died expire by themselves after ``lease``.
"""

import uuid
from collections import Counter

from twisted.internet.task import LoopingCall
from twisted.logger import Logger

log = Logger()

LEASE = 120.0  # seconds a pin outlives its namenode; renewed every quarter of it


class Pins:
    """This namenode's pins; ``block_id in pins`` says whether one of its uploads holds that block."""

    def __init__(self, store, clock, lease=LEASE):
        self.store = store
        self.clock = clock
        self.lease = lease
        self.owner = uuid.uuid4().hex  # a restarted namenode is a new owner: its old pins just expire
        self._held = Counter()  # block id -> uploads of this namenode holding it
        self._renewal = LoopingCall(self.renew)
        self._renewal.clock = clock

    def __contains__(self, block_id):
        return block_id in self._held

    def start(self):
        self._renewal.start(self.lease / 4, now=False).addErrback(lambda f: log.failure("pin renewal stopped", f))

    def stop(self):
        if self._renewal.running:
            self._renewal.stop()

    async def pin(self, block_id):
        """Hold ``block_id`` for one upload; returns once the pin is committed (visible to any GC)."""
        self._held[block_id] += 1
        try:
            await self.store.pin(block_id, self.owner, self.clock.seconds() + self.lease)
        except BaseException:
            self.release(block_id)
            raise

    def release(self, block_id):
        """One upload is done with ``block_id``; the row goes when no upload of this namenode holds it.
        (The store runs changes in order, so a pin taken after this release is not undone by it.)"""
        self._held[block_id] -= 1
        if self._held[block_id] > 0:
            return
        del self._held[block_id]
        self.store.unpin(block_id, self.owner).addErrback(
            lambda f: log.warn("unpin of {block} failed, it expires instead: {e}", block=block_id,
                               e=f.getErrorMessage()))

    def renew(self):
        now = self.clock.seconds()
        d = self.store.renew_pins(self.owner, now + self.lease, now)
        d.addErrback(lambda f: log.warn("pin renewal failed: {e}", e=f.getErrorMessage()))
        return d
