"""The balancer plans a round over many blocks in the cooperator's steps: the reactor is never held for long
(docs/architecture.md, "The reactor is never held for 50 ms")."""

import gc
import time

from twisted.internet import defer
from twisted.internet.task import Clock, Cooperator

from dfs.namenode.balancer import Balancer
from dfs.namenode.namespace.model import block_target
from dfs.namenode.registry import Registry
from dfs.namenode.repair import Repair

BLOCKS = 300_000  # on two of three nodes each: 200,000 replicas a node
MOVABLE_EVERY = 10  # the others want a third replica: the planning walks ten blocks for each it may move
MB = 1024 * 1024
CAPACITY = 2 * BLOCKS * MB
HOLD = 0.05  # CPU seconds: the cooperator's turns are 10 ms, a step far less; generous on a loaded machine


class Store:
    def __init__(self, targets):
        self.targets = targets

    def block_targets(self):
        return defer.succeed(self.targets)  # the namenode reads it in a thread


class Datanodes:
    """Copies that are never answered: the test looks at the planning only."""

    def fetch_many(self, url, block_ids, source):
        return defer.Deferred()

    def fetch(self, url, block_id, source):
        return defer.Deferred()


def test_planning_a_round_over_many_blocks_never_holds_the_reactor():
    clock = Clock()
    clock.advance(1000)
    holds = []

    def timed(work):
        def run():
            began = time.process_time()
            work()
            holds.append(time.process_time() - began)
        return run

    # Each turn of the cooperator is a call of the fake clock, timed.
    cooperator = Cooperator(scheduler=lambda work: clock.callLater(0, timed(work)))
    registry = Registry(clock)
    blocks = [f"{i:064x}" for i in range(BLOCKS)]
    for n in range(3):
        held = [b for i, b in enumerate(blocks) if i % 3 != n]
        used = len(held) * MB
        registry.register(f"n{n}", f"http://n{n}", f"http://n{n}", CAPACITY, used, CAPACITY - used, held, mark="1")
    registry.register("new", "http://new", "http://new", CAPACITY, 0, CAPACITY, [], mark="1")
    targets = {b: block_target(2 if i % MOVABLE_EVERY == 0 else 3, MB) for i, b in enumerate(blocks)}
    datanodes = Datanodes()
    repair = Repair(Store(targets), registry, None, datanodes, clock, cooperator=cooperator)
    repair.safemode.on = False
    balancer = Balancer(repair.store, registry, datanodes, repair, clock)
    gc.collect()
    gc.freeze()  # the registry's sets, made above, are not the planning's cost (see test_repair_queues.py)
    try:
        timed(lambda: balancer.start(threshold=10, bandwidth=1e6))()
        for _ in range(10_000):
            if balancer.run.rounds:
                break
            clock.advance(0)
    finally:
        gc.unfreeze()
    assert max(holds) < HOLD, f"the reactor held for {max(holds) * 1000:.0f} ms of CPU in one turn"
    run = balancer.describe()
    assert run["rounds"] == 1 and run["moves_left"] == 4096, run  # a whole round planned, its copies under way
