"""Timed repair passes keep to a small share of the namenode's time, however many blocks a pass walks; the repair
queues are served every interval all the same."""

from twisted.internet.task import Clock

from dfs.namenode.repair import PASS_SHARE, Repair


class _SlowPassRepair(Repair):
    """A pass that takes ``took`` seconds of the (fake) clock."""

    took = 0.0
    passes = 0
    rounds = 0

    async def _pass(self):
        self.passes += 1
        self.clock.advance(self.took)

    async def _work_queues(self, targets=None, marks=None):
        self.rounds += 1
        self._round_due = False


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
    rounds = repair.rounds
    for _ in range(39):
        clock.advance(1.0)
    clock.advance(2.0 / PASS_SHARE - 39.1)
    assert repair.passes == 3, "a 2 s pass is followed by a pause of 2 s / PASS_SHARE"
    assert repair.rounds - rounds == 13, "the queues were served every 3 s meanwhile"
    clock.advance(0.2)
    assert repair.passes == 4
    repair.stop()
    clock.advance(3600)
    assert repair.passes == 4 and not clock.getDelayedCalls()
