"""Timed repair passes keep to a small share of the namenode's time, however many blocks a pass walks."""

from twisted.internet.task import Clock

from dfs.namenode.repair import PASS_SHARE, Repair


class _SlowPassRepair(Repair):
    """A pass that takes ``took`` seconds of the (fake) clock."""

    took = 0.0
    passes = 0

    async def _pass(self):
        self.passes += 1
        self.clock.advance(self.took)


def test_passes_wait_the_interval_when_quick_and_longer_when_slow():
    clock = Clock()
    repair = _SlowPassRepair(None, None, None, None, clock, interval=3.0)
    repair.start()
    assert repair.passes == 1
    clock.advance(3.0)
    assert repair.passes == 2, "a quick pass is followed by the next one after the interval"
    repair.took = 2.0
    clock.advance(3.0)
    assert repair.passes == 3
    clock.advance(2.0 / PASS_SHARE - 0.1)
    assert repair.passes == 3, "a 2 s pass is followed by a pause of 2 s / PASS_SHARE"
    clock.advance(0.2)
    assert repair.passes == 4
    repair.stop()
    clock.advance(3600)
    assert repair.passes == 4 and not clock.getDelayedCalls()
