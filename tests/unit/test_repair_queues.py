"""Repair works from queues: the most urgent blocks first, small blocks copied in batches, never twice to one target,
and a node's death among a million blocks never holds the reactor."""

import json
import time

import pytest_twisted
from twisted.internet import defer, reactor, task
from twisted.internet.task import Clock

from dfs.namenode import repair as repair_module
from dfs.namenode.namespace.model import block_target
from dfs.namenode.registry import DECOMMISSIONED, DECOMMISSIONING, Registry
from dfs.namenode.repair import Repair, blocks_of
from dfs.namenode.repairqueue import HIGHEST, OVER, UNDER, VERY_UNDER, RepairQueues, copy_level

DEAD_AFTER = 60.0


class _Namespace:
    """What a repair pass reads of the namespace: the blocks files refer to, and nothing to collect."""

    def __init__(self, targets):
        self.targets = targets

    def block_targets(self):
        return defer.succeed(self.targets)  # a real namespace builds it in a thread

    def collectable(self, block_ids, now, epoch=None):
        return defer.succeed({})

    def forget_unreferenced_blocks(self, now=0, epoch=None):
        return defer.succeed(0)

    def namespace_problems(self):
        return defer.succeed([])


class _Answer:
    def __init__(self, code, body):
        self.code = code
        self.body = json.dumps(body).encode()

    def content(self):
        return defer.succeed(self.body)


class _Datanodes:
    """Records every copy asked of a target, as (block, target URL); answers as ``answer(url, block_ids)`` says."""

    def __init__(self, answer):
        self.answer = answer
        self.asked = []
        self.requests = 0

    def fetch(self, url, block_id, source):
        return self.fetch_many(url, [block_id], source)

    def fetch_many(self, url, block_ids, source):
        self.requests += 1
        self.asked += [(block_id, url) for block_id in block_ids]
        return self.answer(url, block_ids)


def _copied(url, block_ids):
    return defer.succeed(_Answer(200, {"blocks": [{"id": b, "copied": True} for b in block_ids]}))


def _block(i):
    return f"{i:064x}"


def _cluster(targets, holders, nodes, answer):
    """A registry of ``nodes`` holding ``holders`` ({node: [block]}), and repair over ``targets``."""
    clock = Clock()
    registry = Registry(clock, stale_after=DEAD_AFTER / 2, dead_after=DEAD_AFTER)
    for node_id in nodes:
        registry.register(node_id, f"http://{node_id}", f"http://{node_id}", 10 ** 12, 0, 10 ** 12,
                          holders.get(node_id, []), mark=f"{node_id}:1")
    datanodes = _Datanodes(answer)
    repair = Repair(_Namespace(targets), registry, None, datanodes, clock)
    repair.safemode.on = False
    return repair, registry, datanodes, clock


async def _until_every_block_is_checked(repair, passes=50):
    for _ in range(passes):
        await repair.run_once()
        if not repair._checks_pending():
            return
    raise AssertionError(f"blocks still unchecked after {passes} passes")


def test_the_fewer_replicas_count_the_more_urgent_the_copy():
    assert [copy_level(n, 3) for n in (0, 1, 2)] == [HIGHEST, HIGHEST, UNDER]
    assert [copy_level(n, 10) for n in (2, 3, 4)] == [VERY_UNDER, VERY_UNDER, UNDER]
    queues = RepairQueues()
    queues.put("under", UNDER)
    queues.put("last", HIGHEST)
    queues.put("over", OVER)
    assert queues.blocks(HIGHEST, UNDER) == ["last", "under"]
    queues.put("under", None)
    assert len(queues) == 2 and queues.count(UNDER) == 0


@pytest_twisted.ensureDeferred
async def test_a_copy_that_got_no_answer_is_not_sent_to_the_same_target_again():
    """Once a timeout cut the namenode's request, the target may still be copying: a second request made it copy the
    block twice. Now that target gets no second request for the block; another target may."""
    asked_of_b = []

    def no_answer_from_b(url, block_ids):
        if url == "http://b":
            asked_of_b.extend(block_ids)
            return defer.fail(TimeoutError("no response for 60s (read timeout)"))
        return _copied(url, block_ids)

    block = _block(1)
    repair, registry, datanodes, clock = _cluster({block: block_target(2, 10)}, {"a": [block]}, ["a", "b"], no_answer_from_b)
    for _ in range(5):
        await repair.run_once()
        clock.advance(3)
        for node_id in ("a", "b"):
            registry.heartbeat(node_id, 10 ** 12, 0, 10 ** 12)
    assert asked_of_b == [block], "b was asked once, however many passes followed"
    registry.register("c", "http://c", "http://c", 10 ** 12, 0, 10 ** 12, [])
    await repair.run_once()
    assert datanodes.asked[-1] == (block, "http://c") and set(registry.replicas[block]) == {"a", "c"}


@pytest_twisted.ensureDeferred
async def test_small_blocks_are_copied_in_batches_in_one_pass():
    """300 small blocks lost a replica: one pass asks for every copy, 64 blocks a request (4 per node per pass
    before)."""
    blocks = [_block(i) for i in range(300)]
    targets = {b: block_target(2, 4096) for b in blocks}
    repair, registry, datanodes, clock = _cluster(targets, {"a": blocks, "b": blocks}, ["a", "b", "c"], _copied)
    await repair.run_once()
    assert repair.stats["under_replicated"] == 0
    clock.advance(DEAD_AFTER)
    for node_id in ("a", "c"):
        registry.heartbeat(node_id, 10 ** 12, 0, 10 ** 12)
    await repair.run_once()
    assert sorted(datanodes.asked) == [(b, "http://c") for b in blocks]
    assert datanodes.requests == 5
    assert all(set(registry.replicas[b]) == {"a", "b", "c"} for b in blocks)
    await repair.run_once()
    assert repair.stats["under_replicated"] == 0 and repair.stats["copies_done"] == 300


@pytest_twisted.ensureDeferred
async def test_copies_in_flight_are_bounded_by_bytes_per_node():
    pending = []

    def never_yet(url, block_ids):
        pending.append(block_ids)
        return defer.Deferred()

    blocks = [_block(i) for i in range(10)]
    targets = {b: block_target(2, 10 << 20) for b in blocks}  # 10 MB each: three fit in 32 MB
    repair, registry, datanodes, clock = _cluster(targets, {"a": blocks}, ["a", "b"], never_yet)
    await repair.run_once()
    assert len(datanodes.asked) == 3 and repair.stats["copies_in_flight"] == 3


@pytest_twisted.ensureDeferred
async def test_a_node_dying_among_a_million_blocks_never_holds_the_reactor_for_50_ms():
    """10^6 blocks, three replicas each on four nodes; one node dies. Every pass checks and queues in steps: the
    reactor's CPU time between two ticks of a 5 ms LoopingCall (time taken off the CPU by other processes does not
    count) stays under 50 ms, with Python's cyclic GC running as it does in a namenode: the replica map gives it
    nothing per block to walk (tests/unit/test_replica_map.py; with a set per block a full collection paused the
    process for 0.5-0.75 s whatever repair did)."""
    count, nodes = 10 ** 6, ("a", "b", "c", "d")
    blocks = [_block(i) for i in range(count)]
    holders = {node: [b for i, b in enumerate(blocks) if i % 4 != k] for k, node in enumerate(nodes)}
    waiting = []
    repair, registry, datanodes, clock = _cluster(
        {b: block_target(3, 4096) for b in blocks}, holders, nodes, lambda url, ids: waiting.append(ids) or defer.Deferred())
    del holders
    gaps = []
    last = [time.process_time()]

    def tick():
        now = time.process_time()
        gaps.append(now - last[0])
        last[0] = now

    ticker = task.LoopingCall(tick)
    ticker.clock = reactor
    ticker.start(0.005)
    try:
        await _until_every_block_is_checked(repair)  # the first passes check every block
        assert repair.stats["under_replicated"] == 0
        clock.advance(DEAD_AFTER)
        for node_id in ("a", "b", "c"):
            registry.heartbeat(node_id, 10 ** 12, 0, 10 ** 12)
        await _until_every_block_is_checked(repair)
    finally:
        tick()  # the stretch since the last tick counts too
        ticker.stop()
    assert repair.stats["under_replicated"] == 3 * count // 4
    assert waiting, "copies started"
    assert max(gaps) < 0.05, f"the reactor was held for {max(gaps) * 1000:.0f} ms of CPU"


class _Reads(_Namespace):
    """A namespace read anew by each pass, as a real one is: a new dict each time."""

    def __init__(self, reads):
        super().__init__(None)
        self.reads = reads

    def block_targets(self):
        return defer.succeed(self.reads.pop(0) if len(self.reads) > 1 else self.reads[0])


@pytest_twisted.ensureDeferred
async def test_a_pass_lets_the_last_read_go_in_steps_unless_a_scan_still_walks_it():
    """Freed at once when the next read replaced it, a read of 3.3 x 10^6 blocks held the reactor for 0.17 s of CPU.
    Repair now empties it in steps; but not while a scan of every block walks it, which would then break off."""
    blocks = [_block(i) for i in range(1000)]
    reads = [{b: block_target(2, 10) for b in blocks} for _ in range(3)]
    first, second, third = reads[:3]
    repair, registry, datanodes, clock = _cluster({}, {"a": blocks, "b": blocks}, ["a", "b"], _copied)
    repair.store = _Reads(reads)
    await repair.run_once()  # the first read: a scan of every block walks it
    assert repair.targets is first and len(first) == 1000
    await repair.run_once()  # the second: the scan of the first was over, so it is let go
    assert repair.targets is second and len(first) == 0
    registry.load_maintenance({"ghost": clock.seconds() + 3600})  # a node whose holdings are unknown: scan them all
    repair.node_changed("ghost")
    await repair.run_once()
    assert repair.targets is third and len(second) == 1000, "kept for the scan that walks it"
    await _until_every_block_is_checked(repair)
    assert repair.stats["under_replicated"] == 0 and len(third) == 1000


@pytest_twisted.ensureDeferred
async def test_copies_start_before_every_named_block_is_checked(monkeypatch):
    """A walk checks a bounded number of named blocks before its copy round, so the blocks found short so far are
    copied at once and the rest are checked by the next walks: at 10^7 replicas no copy started in the two minutes
    after safe mode, while the checks of every reported replica ran first."""
    monkeypatch.setattr(repair_module, "CHECKS_PER_WALK", 128)
    blocks = [_block(i) for i in range(1000)]
    repair, registry, datanodes, clock = _cluster({b: block_target(2, 4096) for b in blocks}, {"a": blocks}, ["a", "b"], _copied)
    await repair.run_once()
    assert 0 < len(datanodes.asked) < len(blocks) and repair._checks_pending()
    await _until_every_block_is_checked(repair)
    await repair.run_once()
    assert sorted(datanodes.asked) == [(b, "http://b") for b in blocks]
    assert all(set(registry.replicas[b]) == {"a", "b"} for b in blocks)


@pytest_twisted.ensureDeferred
async def test_a_draining_node_is_not_released_while_some_of_its_blocks_wait_for_their_check(monkeypatch):
    """With checks bounded per walk, the draining node's blocks checked so far may all be copied while others wait:
    released then, a node whose blocks were not yet all elsewhere could be switched off."""
    monkeypatch.setattr(repair_module, "CHECKS_PER_WALK", 128)
    blocks = [_block(i) for i in range(1000)]
    repair, registry, datanodes, clock = _cluster({b: block_target(2, 4096) for b in blocks}, {"a": blocks, "b": blocks},
                                                  ["a", "b", "c"], _copied)
    await _until_every_block_is_checked(repair)
    registry.decommission("a")
    for _ in range(50):
        await repair.run_once()
        if not repair._checks_pending():
            break
        assert registry.nodes["a"].admin == DECOMMISSIONING, "released while some of its blocks were unchecked"
    await repair.run_once()
    assert registry.nodes["a"].admin == DECOMMISSIONED
    assert all({"b", "c"} <= set(registry.replicas[b]) for b in blocks)


@pytest_twisted.ensureDeferred
async def test_copies_that_fail_at_once_wait_for_the_next_round():
    """A target that refuses every copy at once made the namenode ask again at once, forever: a core spent (seen with
    bench/scale.py's datanodes, which refused the batch route). Now only a batch that copied something calls the next
    round early; the others wait for the timed round."""
    blocks = [_block(i) for i in range(3)]
    repair, registry, datanodes, clock = _cluster({b: block_target(2, 10) for b in blocks}, {"a": blocks}, ["a", "b"],
                                                  lambda url, block_ids: defer.succeed(_Answer(500, {})))
    repair.start()
    try:
        await repair.run_once()
        for _ in range(20):
            clock.advance(0)
            await task.deferLater(reactor, 0, lambda: None)  # the round's cooperative steps
        assert datanodes.requests == 1
        clock.advance(repair.interval)  # the timed round (and pass) ask again
        await task.deferLater(reactor, 0.05, lambda: None)
        assert datanodes.requests >= 2
    finally:
        repair.stop()


@pytest_twisted.ensureDeferred
async def test_a_datanode_without_the_batch_route_is_asked_one_block_at_a_time():
    """A datanode older than the batch route answers it 404 (or 405): the same copies go by the per-block route."""
    singles = []

    def fetch_one(url, block_id, source):
        singles.append((block_id, url))
        return defer.succeed(_Answer(201, {"id": block_id, "copied": True}))

    blocks = [_block(i) for i in range(3)]
    repair, registry, datanodes, clock = _cluster({b: block_target(2, 10) for b in blocks}, {"a": blocks}, ["a", "b"],
                                                  lambda url, block_ids: defer.succeed(_Answer(404, {})))
    datanodes.fetch = fetch_one
    await repair.run_once()
    assert sorted(singles) == [(b, "http://b") for b in blocks]
    assert all(set(registry.replicas[b]) == {"a", "b"} for b in blocks)


def test_a_nodes_blocks_walked_in_steps_are_all_seen_though_the_set_changes():
    """One block added and one removed between two steps: the size is the same, the walk still sees every block."""
    registry = Registry(Clock())
    blocks = [_block(i) for i in range(1000)]
    registry.register("a", "http://a", "http://a", 1, 0, 1, blocks)
    walk = blocks_of(registry.nodes["a"])
    seen = [next(walk) for _ in range(100)]
    registry.add_replica(_block(5000), "a")
    registry.remove_replica(blocks[999], "a")
    seen += list(walk)
    assert set(seen) == set(registry.nodes["a"].blocks) | set(seen[:100])


def test_a_report_taken_before_a_delete_landed_does_not_bring_the_replica_back():
    """Trimming deleted a replica; the node's full report, taken before the delete ran, still listed it. Counted
    again, the block was trimmed a second time elsewhere and then copied back: copies no failure called for."""
    clock = Clock()
    registry = Registry(clock)
    block = _block(1)
    registry.register("a", "http://a", "http://a", 1, 0, 1, [block])
    registry.remove_replica(block, "a")  # repair sent the delete
    clock.advance(1)
    registry.report("a", [block])
    assert block not in registry.replicas
    clock.advance(60)
    registry.report("a", [block])  # long after: the delete did not happen, the replica is there
    assert registry.replicas[block] == ("a",)
