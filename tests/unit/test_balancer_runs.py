"""The balancer's runs on a fake clock (dfs.namenode.balancer.Balancer): copy then delete, throttled, stoppable, and
never a delete that would leave a block under its replication or by a namenode that no longer leads."""

import json
from types import SimpleNamespace

import pytest
import pytest_twisted
from treq.testing import StubTreq
from twisted.internet import defer
from twisted.internet.task import Clock, Cooperator
from twisted.python import usage

from dfs.errors import Unavailable
from dfs.namenode import balancer as balancer_module
from dfs.namenode.balancer import BALANCED, REQUESTS_PER_NODE, STOPPED, Balancer, background_balancer
from dfs.namenode.namespace.model import block_target
from dfs.namenode.registry import Registry
from dfs.namenode.repair import Repair
from dfs.namenode.tap import NamenodeOptions

MB = 1024 * 1024
CAPACITY = 100 * MB


class Answer:
    def __init__(self, code=200, body=b""):
        self.code, self.body = code, body

    def content(self):
        return defer.succeed(self.body)


class Datanodes:
    """The datanodes as the namenode's client sees them: every copy and delete is done at once and written down."""

    def __init__(self, registry):
        self.registry = registry
        self.calls = []  # ("fetch"|"delete", block, node url)
        self.on_fetch = lambda block_id, source: None

    def fetch_many(self, url, block_ids, source):
        answers = []
        for block_id in block_ids:
            self.calls.append(("fetch", block_id, url))
            self.on_fetch(block_id, source)
            answers.append({"id": block_id, "copied": True})
        return defer.succeed(Answer(body=json.dumps({"blocks": answers}).encode()))

    def delete_many(self, url, block_ids, mark, epoch=None):
        self.calls += [("delete", block_id, url) for block_id in block_ids]
        return defer.succeed(Answer(body=b'{"deleted": 0, "kept": [], "missing": []}'))


class Store:
    def __init__(self, targets):
        self.targets = targets

    def block_targets(self):
        return defer.succeed(dict(self.targets))


def make(blocks_on, wanted=2, size=MB, leadership=None):
    """A balancer over nodes holding the blocks ``blocks_on`` names ({node id: [block ids]})."""
    clock = Clock()
    clock.advance(1000)
    registry = Registry(clock)
    for node_id, blocks in blocks_on.items():
        used = len(blocks) * size
        registry.register(node_id, f"http://{node_id}", f"http://{node_id}", CAPACITY, used, CAPACITY - used, blocks,
                          mark="1")
    targets = {b: block_target(wanted, size) for blocks in blocks_on.values() for b in blocks}
    store = Store(targets)
    datanodes = Datanodes(registry)
    # Planning runs in the cooperator's steps, here on the fake clock: advancing it runs them.
    cooperator = Cooperator(scheduler=lambda work: clock.callLater(0, work))
    repair = Repair(store, registry, None, datanodes, clock, cooperator=cooperator)
    repair.safemode.on = False
    balancer = Balancer(store, registry, datanodes, repair, clock, leadership)
    return SimpleNamespace(clock=clock, registry=registry, datanodes=datanodes, balancer=balancer, size=size,
                           targets=targets)


def beat(c):
    """Every datanode's heartbeat: the space its blocks take, as the registry knows them."""
    for node in c.registry.nodes.values():
        used = len(node.blocks) * c.size
        c.registry.heartbeat(node.id, CAPACITY, used, CAPACITY - used, mark="1")


def advance(c, seconds, step=0.5):
    """Time passes, the datanodes beating all along."""
    for _ in range(int(seconds / step)):
        c.clock.advance(step)
        beat(c)


def run_out(c, step=0.5, limit=400):
    for _ in range(limit):
        if not c.balancer.busy:
            return c.balancer.describe()
        c.clock.advance(step)
        beat(c)
    raise AssertionError(f"still running: {c.balancer.describe()}")


def start(c, **kwargs):
    """Start a run and let it go as far as it goes at once."""
    c.balancer.start(**kwargs)
    c.clock.advance(0)


def three_full_one_empty(**kwargs):
    blocks = [f"b{i:02d}" for i in range(30)]  # on two of the three full nodes each: 20 MB each
    on = {"n0": [], "n1": [], "n2": [], "new": []}
    for i, b in enumerate(blocks):
        on[f"n{i % 3}"].append(b)
        on[f"n{(i + 1) % 3}"].append(b)
    return make(on, **kwargs)


def replicas(c, block_id):
    return len(c.registry.replicas.get(block_id, ()))


def test_each_move_copies_before_it_deletes_and_the_run_ends_balanced():
    c = three_full_one_empty()
    counts = []
    c.datanodes.on_fetch = lambda b, source: counts.append(replicas(c, b))
    start(c, threshold=5, bandwidth=1000)
    run = run_out(c)
    assert run["state"] == BALANCED, run
    assert run["moves_done"] > 0 and run["bytes_moved"] == run["moves_done"] * MB and run["moves_failed"] == 0
    fetched = [(b, url) for what, b, url in c.datanodes.calls if what == "fetch"]
    deleted = [b for what, b, _ in c.datanodes.calls if what == "delete"]
    assert all(url == "http://new" for _, url in fetched)
    for block_id in deleted:  # copied first
        assert c.datanodes.calls.index(("fetch", block_id, "http://new")) < [
            i for i, call in enumerate(c.datanodes.calls) if call[:2] == ("delete", block_id)][0]
    assert all(count >= 2 for count in counts) and all(replicas(c, b) == 2 for b in c.targets)
    levels = [n["utilization"] for n in run["nodes"]]
    assert max(levels) - min(levels) <= 10, run


def test_a_new_node_fills_over_many_rounds_past_the_blocks_it_holds_already(monkeypatch):
    """Issue 25: onto a new empty node, after a first round of moves each old node's blocks begin with those whose
    other replica went to the new node; a walk that gave up after PASSED of them left the run stuck at one round's
    moves (bench/balance_moves.py, 13,500 files: the new node at 22.8% against a mean of 37.5%)."""
    monkeypatch.setattr(balancer_module, "MOVES_PER_ROUND", 16)
    monkeypatch.setattr(balancer_module, "PASSED", 8)
    blocks = [f"b{i:03d}" for i in range(300)]  # on two of the three old nodes each: 50% of each
    on = {"n0": [], "n1": [], "n2": [], "new": []}
    for i, b in enumerate(blocks):
        on[f"n{i % 3}"].append(b)
        on[f"n{(i + 1) % 3}"].append(b)
    c = make(on, size=CAPACITY // 400)
    start(c, threshold=10, bandwidth=1000)
    run = run_out(c)
    assert run["state"] == BALANCED and run["rounds"] > 2 and run["moves_failed"] == 0, run
    assert all(abs(n["utilization"] - run["mean"]) <= 10 for n in run["nodes"]), run
    assert all(replicas(c, b) == 2 for b in c.targets)


def test_moves_keep_to_the_bandwidth():
    c = three_full_one_empty()
    start(c, threshold=5, bandwidth=1.0)  # 1 MB/s, blocks of 1 MB: one move a second
    moves = lambda: sum(1 for call in c.datanodes.calls if call[0] == "delete")  # noqa: E731
    assert moves() == 1
    c.clock.advance(0.9)
    assert moves() == 1
    c.clock.advance(0.2)
    assert moves() == 2
    c.clock.advance(3.0)
    assert moves() == 5


def test_a_stopped_run_ends_after_its_move_and_leaves_every_block_replicated():
    c = three_full_one_empty()
    start(c, threshold=5, bandwidth=1.0)  # one move made, the throttle's wait under way
    c.balancer.stop()
    run = c.balancer.describe()  # at once: the wait is cut short
    assert run["state"] == STOPPED and run["moves_done"] == 1, run
    assert all(replicas(c, b) == 2 for b in c.targets)


def test_the_source_is_kept_when_the_block_lost_a_replica_meanwhile():
    c = three_full_one_empty()
    # While the copy runs, repair trims the block's other replica (or its node reports it gone): the source's
    # replica is then one of the two the block needs.
    def lose_another(block_id, source):
        other = next(n for n in c.registry.replicas[block_id] if source != f"http://{n}")
        c.registry.remove_replica(block_id, other)
        c.balancer.stop()
    c.datanodes.on_fetch = lose_another
    start(c, threshold=5, bandwidth=1000)
    run = run_out(c)
    fetched = [call for call in c.datanodes.calls if call[0] == "fetch"]
    assert fetched and len(fetched) == len(c.datanodes.calls), "no delete"
    assert run["moves_failed"] == len(fetched) and run["moves_done"] == 0
    assert all(replicas(c, b) >= 2 for b in c.targets)


class Lease:
    epoch = 7


def test_only_the_leader_balances_and_a_lost_lease_stops_the_run():
    lease = Lease()
    c = three_full_one_empty(leadership=lease)
    start(c, threshold=5, bandwidth=1.0)
    assert c.datanodes.calls[-1][0] == "delete"
    lease.epoch = None
    c.clock.advance(1.1)
    run = c.balancer.describe()
    assert run["state"] == STOPPED and "no longer leads" in run["why"], run
    assert sum(call[0] == "delete" for call in c.datanodes.calls) == 1
    with pytest.raises(Unavailable):
        c.balancer.start()


def test_a_run_in_safe_mode_is_refused():
    c = three_full_one_empty()
    c.balancer.repair.safemode.on = True
    with pytest.raises(Unavailable):
        c.balancer.start()
    assert c.balancer.describe()["state"] == "idle"


def test_the_background_balancer_runs_on_the_leader_every_interval():
    lease = Lease()
    lease.epoch = None
    c = three_full_one_empty(leadership=lease)
    service = background_balancer(c.balancer, c.clock, 60, 5, 1000)
    service.startService()
    try:
        assert c.balancer.describe()["state"] == "idle", "another namenode leads"
        lease.epoch = 7
        advance(c, 60)
        run = run_out(c)
        assert run["state"] == BALANCED and run["background"] and run["moves_done"] > 0, run
        advance(c, 60)  # the next look finds the cluster balanced
        run = c.balancer.describe()
        assert run["state"] == BALANCED and run["moves_done"] == 0, run
    finally:
        service.stopService()


@pytest_twisted.ensureDeferred
async def test_the_route_starts_a_run_and_tells_its_progress(namenode_app):
    http = StubTreq(namenode_app.resource())
    response = await http.post("http://nn/cluster/balance", params={"threshold": "abc"})
    assert response.code == 400 and "threshold" in (await response.json())["RemoteException"]["message"]
    response = await http.post("http://nn/cluster/balance", params={"bandwidth": "0"})
    assert response.code == 400
    assert (await (await http.get("http://nn/cluster/balance")).json())["state"] == "idle"
    response = await http.post("http://nn/cluster/balance", params={"threshold": "5", "bandwidth": "20"})
    started = await response.json()
    assert response.code == 200 and started["threshold"] == 5 and started["bandwidth"] == 20
    progress = await (await http.get("http://nn/cluster/balance")).json()
    assert progress["state"] == BALANCED and progress["moves_done"] == 0, progress  # no datanodes: nothing to do


def test_a_report_sent_before_a_delete_does_not_bring_the_replica_back():
    """A full block report is taken before it is sent: one that left the source before the balancer's delete and
    arrives after it would put the deleted replica back in the map, and repair, seeing one replica too many, could
    trim a real one. A replica deleted less than REPORT_LAG ago is left out of such a report."""
    c = three_full_one_empty()
    source = c.registry.nodes["n0"]
    taken_before = sorted(source.blocks)
    start(c, threshold=5, bandwidth=1.0)  # the first move is made at once
    moved = next(b for what, b, url in c.datanodes.calls if what == "delete")
    assert moved in taken_before and moved not in source.blocks
    c.registry.report(source.id, taken_before)
    assert moved not in source.blocks and source.id not in c.registry.replicas[moved]
    c.registry.add_replica(moved, source.id)  # stored there again (an upload of the same bytes): counted again
    assert source.id in c.registry.replicas[moved]


def test_the_background_options():
    options = NamenodeOptions()
    options.parseOptions([])
    assert (options["balance-threshold"], options["balance-interval"], options["balance-bandwidth"]) == (0, 3600, 100)
    options = NamenodeOptions()
    options.parseOptions(["--balance-threshold", "5", "--balance-interval", "30m", "--balance-bandwidth", "20"])
    assert (options["balance-threshold"], options["balance-interval"], options["balance-bandwidth"]) == (5, 1800, 20)
    for option, value in [("--balance-threshold", "-1"), ("--balance-interval", "0"), ("--balance-bandwidth", "0")]:
        with pytest.raises(usage.UsageError, match="--balance-threshold is 0 \\(off\\) or more"):
            NamenodeOptions().parseOptions([option, value])


class HeldDatanodes(Datanodes):
    """Datanodes whose copies are answered only when the test says: the copies the balancer has asked for and not
    yet heard back from are those in flight."""

    def __init__(self, registry):
        super().__init__(registry)
        self.held = []  # (target url, block ids, Deferred of the answer)

    def fetch_many(self, url, block_ids, source):
        self.calls += [("fetch", block_id, url) for block_id in block_ids]
        answered = defer.Deferred()
        self.held.append((url, block_ids, answered))
        return answered

    def fetch(self, url, block_id, source):  # one block a request, as the balancer before batches asked
        return self.fetch_many(url, [block_id], source)

    def answer_all(self):
        held, self.held = self.held, []
        for _, block_ids, answered in held:
            body = {"blocks": [{"id": block_id, "copied": True} for block_id in block_ids]}
            answered.callback(Answer(body=json.dumps(body).encode()))


def held(blocks_on_each=60, **kwargs):
    """Three full nodes (``blocks_on_each`` blocks of 1 MB each) and a new empty one, copies held."""
    blocks = [f"b{i:03d}" for i in range(blocks_on_each * 3 // 2)]
    on = {"n0": [], "n1": [], "n2": [], "new": []}
    for i, b in enumerate(blocks):
        on[f"n{i % 3}"].append(b)
        on[f"n{(i + 1) % 3}"].append(b)
    c = make(on, **kwargs)
    c.datanodes = c.balancer.datanodes = HeldDatanodes(c.registry)
    return c


def test_moves_overlap_within_each_datanodes_bounds():
    """Several copies are in flight at once (before: one block at a time), small blocks between two nodes go in one
    request, and no datanode has more than REQUESTS_PER_NODE requests or --replication-inflight bytes at once."""
    c = held()
    start(c, threshold=5, bandwidth=1000)
    c.clock.advance(0.1)  # the throttle's share of the bandwidth: 100 MB
    blocks_in_flight = sum(len(block_ids) for _, block_ids, _ in c.datanodes.held)
    assert len(c.datanodes.held) >= 2 and blocks_in_flight > len(c.datanodes.held), c.datanodes.held
    assert c.balancer.describe()["moves_in_flight"] == blocks_in_flight
    for url in {url for url, _, _ in c.datanodes.held}:
        requests = [block_ids for target, block_ids, _ in c.datanodes.held if target == url]
        assert len(requests) <= REQUESTS_PER_NODE
        assert sum(len(block_ids) for block_ids in requests) * MB <= c.balancer.repair.inflight_bytes
    for _ in range(100):  # every answer lets the next copies go
        if not c.datanodes.held:
            break
        c.datanodes.answer_all()
        c.clock.advance(0.5)
        beat(c)
    run = run_out(c)
    assert run["state"] == BALANCED and run["moves_done"] > blocks_in_flight, run
    assert all(replicas(c, b) == 2 for b in c.targets)


def test_the_bandwidth_bounds_the_copies_in_flight_too():
    """The throttle counts the bytes asked for, not those done: copies that take long do not let more start."""
    c = held()
    start(c, threshold=5, bandwidth=2.0)  # blocks of 1 MB: two a second
    asked = lambda: sum(1 for call in c.datanodes.calls if call[0] == "fetch")  # noqa: E731
    for tenth in range(1, 41):
        c.clock.advance(0.1)
        assert asked() <= 2 * (tenth / 10) + 2, (tenth, asked())
    assert asked() >= 2 * 4, asked()  # not starved either: 4 s, 8 blocks
    c.balancer.stop()
    assert c.balancer.describe()["state"] == "running", "the copies in flight end first"
    c.datanodes.answer_all()
    run = c.balancer.describe()
    assert run["state"] == STOPPED and run["moves_done"] == asked() and run["moves_in_flight"] == 0, run
    assert all(replicas(c, b) == 2 for b in c.targets)


def test_the_next_round_is_planned_and_started_while_the_last_rounds_moves_are_in_flight(monkeypatch):
    """Once a round's copies have all started, the next round is planned on the heartbeats' numbers plus the moves
    under way, and its copies start beside them (before: each round waited for all its moves, then for a heartbeat
    from every node). No block is in two moves at once, and none falls below its replication."""
    monkeypatch.setattr(balancer_module, "MOVES_PER_ROUND", 4)
    c = held()
    start(c, threshold=5, bandwidth=1000)
    c.clock.advance(0.1)  # the throttle's share of the bandwidth for the first rounds' copies
    fetched = [b for what, b, _ in c.datanodes.calls if what == "fetch"]
    run = c.balancer.describe()
    assert run["rounds"] == 2 and len(fetched) == 8 and run["moves_in_flight"] == 8, (run, fetched)
    assert len(set(fetched)) == len(fetched), "a block in two moves"
    for _ in range(200):
        if not c.datanodes.held:
            break
        in_flight = [b for _, block_ids, _ in c.datanodes.held for b in block_ids]
        assert len(set(in_flight)) == len(in_flight), "a block in two moves"
        c.datanodes.answer_all()
        assert all(replicas(c, b) >= 2 for b in c.targets)
        c.clock.advance(0.5)
        beat(c)
    run = run_out(c)
    assert run["state"] == BALANCED and run["moves_failed"] == 0 and run["rounds"] > 2, run
    assert all(replicas(c, b) == 2 for b in c.targets)
    levels = [n["utilization"] for n in run["nodes"]]
    assert max(levels) - min(levels) <= 10, run
