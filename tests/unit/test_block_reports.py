"""Block reports between a datanode's link and the namenode: incremental with the heartbeats, full ones in pieces that
pass the HTTP limits at any size, and the previous release's JSON report still taken."""

import hashlib
import io

import pytest
import pytest_twisted
from hypothesis import given
from hypothesis import strategies as st
from treq.testing import StubTreq
from twisted.internet import defer, reactor, task
from twisted.internet.task import Clock
from twisted.python.usage import UsageError

from dfs import blockreports
from dfs.datanode.blockstore import BlockStore
from dfs.datanode.heartbeat import NamenodeLink
from dfs.datanode.tap import DatanodeOptions
from dfs.errors import BadRequest
from dfs.http import make_http
from dfs.limits import Limits
from dfs.namenode.registry import REPORT_LAG, REPORT_STEP, Registry
from dfs.namenode.steps import in_steps
from dfs.peers import NamenodeClient
from dfs.web import QuietSite

URL = "http://dn:8181"
NN = "http://nn"


def ids(count, start=0):
    return [hashlib.sha256(b"%d" % n).hexdigest() for n in range(start, start + count)]


def synchronously(fn, *args):
    return defer.maybeDeferred(fn, *args)


class ManyBlocks:
    """A datanode's store that holds ``block_ids`` without a file for any: what a link reads of a BlockStore."""

    def __init__(self, block_ids):
        self.held = dict.fromkeys(block_ids)
        self.on_new_block, self.on_gone_block = [], []

    @property
    def block_ids(self):
        return self.held.keys()

    def prune_missing_sync(self):
        return []

    def report_sync(self):
        return list(self.held)

    def usage(self):
        return {"capacity": 1 << 40, "used": 1 << 30, "free": 1 << 39}

    def mark(self):
        return "boot:1"


def held_somewhere(registry):
    return {block_id for block_id, holders in registry.replicas.items() if holders}


def _link(namenode_app, store, http=None, **kwargs):
    namenode = NamenodeClient(http or StubTreq(namenode_app.resource()), NN)
    identity = {"id": "dn1", "cluster_id": namenode_app.config["cluster_id"]}
    link = NamenodeLink(namenode, store, identity, namenode_app.registry.clock, synchronously, **kwargs)
    link.url = link.public_url = URL
    return link


@pytest_twisted.ensureDeferred
async def test_a_report_of_1_1_million_blocks_passes_the_request_limit_and_a_vanished_replica_is_noticed(
        namenode_app):
    # Before reports went in pieces, the registration carried all 1.1 million ids in 74 MB of JSON: 413, and the
    # datanode never joined.
    held = ids(1_100_000)
    store = ManyBlocks(held)
    site = QuietSite(namenode_app.resource())
    site.limits = Limits(is_upload=namenode_app.is_upload)  # the namenode's default body limit, 64 MiB
    port = reactor.listenTCP(0, site, interface="127.0.0.1")
    http, pool = make_http(reactor)
    try:
        link = _link(namenode_app, store, http)
        link.namenode.url = f"http://127.0.0.1:{port.getHost().port}"
        await link.beat()
        assert link.registered
        registry = namenode_app.registry
        assert len(registry.nodes["dn1"].blocks) == len(held) and set(registry.replicas[held[-1]]) == {"dn1"}

        del store.held[held[1234]]  # gone without a word to the link, as a file removed by hand
        registry.clock.advance(REPORT_LAG)
        link.report_now()
        await link.beat()
        assert len(registry.nodes["dn1"].blocks) == len(held) - 1 and held[1234] not in registry.replicas
    finally:
        await pool.closeCachedConnections()
        await port.stopListening()


@pytest_twisted.ensureDeferred
async def test_blocks_that_land_and_leave_are_known_with_the_next_heartbeat(namenode_app, tmp_path):
    store = BlockStore(f"{tmp_path / 'disk1'},{tmp_path / 'disk2'}")
    link = _link(namenode_app, store)
    await link.beat()
    registry = namenode_app.registry
    node = registry.nodes["dn1"]
    reported = node.last_report
    stored = [block_id for data in (b"a", b"b", b"c", b"d")  # one at a time: they spread over both disks
              for block_id, _ in store.commit_many_sync(io.BytesIO(data), [1])]
    registry.clock.advance(3)
    await link.beat()
    assert {b: registry.replicas.get(b) for b in stored} == {b: ("dn1",) for b in stored}

    store.delete_sync(stored[0])
    lost = [b for b in stored if store.path(b).startswith(str(tmp_path / "disk2"))]
    store._fail(store.volumes[1], "unplugged")  # what VolumeWatch does with a disk it finds gone
    registry.clock.advance(3)
    await link.beat()
    assert lost and set(registry.replicas) == set(stored) - {stored[0]} - set(lost)
    assert node.last_report == reported, "no full report was needed"


@pytest_twisted.ensureDeferred
async def test_a_heartbeat_tells_many_changes_in_batches(namenode_app, monkeypatch):
    monkeypatch.setattr("dfs.datanode.heartbeat.CHANGES_PER_BEAT", 3)
    store = ManyBlocks([])
    link = _link(namenode_app, store)
    await link.beat()
    for block_id in ids(7):
        link._received(block_id)
    await link.beat()
    assert set(namenode_app.registry.replicas) == set(ids(7))


@pytest_twisted.ensureDeferred
async def test_full_reports_are_staggered_then_periodic_and_on_the_namenodes_request(namenode_app):
    store = ManyBlocks(ids(3))
    link = _link(namenode_app, store, report_interval=100, stagger=lambda: 0.25)
    clock = namenode_app.registry.clock
    node_reports = []

    async def beat_at(when):
        clock.advance(when - clock.seconds())
        await link.beat()
        node_reports.append(namenode_app.registry.nodes["dn1"].last_report)

    await beat_at(0)  # registers and reports
    await beat_at(20)
    await beat_at(25)  # a quarter of the interval: the stagger
    await beat_at(100)
    await beat_at(125)  # the interval after that
    assert node_reports == [0, 0, 25, 25, 125]

    namenode_app.registry.nodes["dn1"].last_report = None  # e.g. a report whose last piece never came
    await beat_at(130)  # the heartbeat's answer asks for one
    await beat_at(133)
    assert node_reports[-2:] == [None, 133]


@pytest_twisted.ensureDeferred
async def test_a_datanode_of_the_previous_release_registers_and_reports_in_json(namenode_app):
    http = StubTreq(namenode_app.resource())
    registry = namenode_app.registry
    held = ids(5)
    body = {"id": "old", "url": "http://old", "capacity": 10, "used": 0, "free": 10, "blocks": held[:4]}
    assert (await http.post(NN + "/cluster/datanodes", json=body)).code == 200
    assert held_somewhere(registry) == set(held[:4])
    usage = {"capacity": 10, "used": 0, "free": 10}
    answer = await http.put(NN + "/cluster/datanodes/old/heartbeat", json={**usage, "received": [held[4]]})
    assert answer.code == 200 and held_somewhere(registry) == set(held)
    registry.clock.advance(REPORT_LAG)
    answer = await http.put(NN + "/cluster/datanodes/old/blocks", json={"blocks": held[1:]})
    assert answer.code == 200 and (await answer.json())["blocks"] == 4
    assert held_somewhere(registry) == set(held[1:]) and registry.nodes["old"].last_report == REPORT_LAG


class PreviousNamenode:
    """A namenode of the previous release as a link sees it: its registration answer offers no pieces."""

    def __init__(self, current):
        self.current, self.url, self.sent = current, current.url, []

    def register(self, body):
        self.sent.append("register")
        return self.current.register(body).addCallback(self._without_pieces)

    @staticmethod
    def _without_pieces(response):
        json = response.json
        response.json = lambda: json().addCallback(lambda answer: {"cluster_id": answer["cluster_id"]})
        return response

    def block_report(self, node_id, block_ids):
        self.sent.append("json report")
        return self.current.block_report(node_id, block_ids)


@pytest_twisted.ensureDeferred
async def test_a_namenode_of_the_previous_release_gets_the_report_in_json(namenode_app):
    link = _link(namenode_app, ManyBlocks(ids(4)))
    link.namenode = namenode = PreviousNamenode(link.namenode)
    await link.beat()
    assert namenode.sent == ["register", "json report"]
    assert set(namenode_app.registry.replicas) == set(ids(4))


def _registry():
    registry = Registry(Clock())
    registry.register("a", "http://a", "http://a", 10, 0, 10, None)
    return registry


def test_pieces_count_at_once_and_the_last_one_sweeps_what_no_piece_named():
    registry = _registry()
    registry.report("a", ids(10))
    registry.clock.advance(REPORT_LAG)
    registry.add_replica(ids(1, 50)[0], "a")  # a write while the report was under way
    assert not registry.report_piece("a", "r1", 1, 3, ids(4, 4))
    assert not registry.report_piece("a", "r1", 1, 3, ids(4, 4)), "a piece sent twice counts once"
    assert not registry.report_piece("a", "r1", 0, 3, ids(4) + ids(1, 20))
    assert registry.replicas[ids(1, 20)[0]] == ("a",), "a piece's blocks count before the report is complete"
    assert set(ids(2, 8)) <= set(registry.replicas), "nothing is swept before the last piece"
    assert registry.report_piece("a", "r1", 2, 3, [])
    assert registry.nodes["a"].blocks.keys() == set(ids(8)) | set(ids(1, 20)) | set(ids(1, 50))
    assert registry.replicas.keys() == registry.nodes["a"].blocks.keys()


def test_replicas_added_long_ago_are_not_remembered_until_the_next_full_report():
    registry = _registry()
    for block_id in ids(3):
        registry.add_replica(block_id, "a")
    registry.clock.advance(REPORT_LAG)
    registry.add_replica(ids(1, 3)[0], "a")
    assert list(registry.nodes["a"].recent) == ids(1, 3)


def test_a_piece_of_another_report_starts_over():
    registry = _registry()
    registry.report("a", ids(4))
    registry.clock.advance(REPORT_LAG)
    assert not registry.report_piece("a", "r1", 0, 2, ids(1))
    assert not registry.report_piece("a", "r2", 0, 2, ids(2))
    assert registry.report_piece("a", "r2", 1, 2, ids(1, 3))
    assert registry.nodes["a"].blocks.keys() == set(ids(2)) | set(ids(1, 3))


def test_a_registration_without_blocks_keeps_the_replicas_until_the_report():
    registry = _registry()
    registry.report("a", ids(3))
    registry.register("a", "http://a", "http://a", 10, 0, 10, None)  # re-registered: its report follows
    assert set(registry.replicas) == set(ids(3)) and registry.nodes["a"].last_report is None


def test_a_piece_is_applied_in_steps_and_one_a_registration_overtook_stops_there():
    registry = _registry()
    steps = registry.report_piece_steps("a", "r1", 0, 1, ids(3 * REPORT_STEP))
    next(steps)
    assert len(registry.replicas) == 0, "more than one step: the first waits for a turn too"
    next(steps)
    assert len(registry.replicas) == REPORT_STEP
    next(steps)
    assert len(registry.replicas) == 2 * REPORT_STEP
    registry.register("a", "http://a", "http://a", 10, 0, 10, None)  # restarted: a new report follows
    with pytest.raises(StopIteration) as end:
        next(steps)
    assert end.value.value is False and len(registry.replicas) == 2 * REPORT_STEP
    assert registry.nodes["a"].pending is None and registry.nodes["a"].last_report is None


def test_no_step_of_a_big_piece_runs_in_the_turn_its_request_arrived():
    """The first step of each piece ran at once, in the reactor's turn that read its request: the pieces of the many
    datanodes whose requests were read in one turn held the reactor for the sum of those steps (at 10^7 replicas on
    100 datanodes, holds of 50-90 ms of CPU in `_apply_blocks`). A piece of one step needs no turn."""
    registry = _registry()
    registry.register("b", "http://b", "http://b", 10, 0, 10, None)
    turns = []
    cooperator = task.Cooperator(scheduler=turns.append, terminationPredicateFactory=lambda: lambda: True)
    big = [defer.ensureDeferred(in_steps(cooperator, registry.report_piece_steps(node, "r", 0, 1, blocks)))
           for node, blocks in (("a", ids(2 * REPORT_STEP)), ("b", ids(2 * REPORT_STEP, 10**6)))]
    assert len(registry.replicas) == 0 and turns
    for _ in range(100):
        if not turns:
            break
        turns.pop(0)()
    assert len(registry.replicas) == 4 * REPORT_STEP and [d.result for d in big] == [True, True]
    registry.register("c", "http://c", "http://c", 10, 0, 10, None)
    small = defer.ensureDeferred(in_steps(cooperator, registry.report_piece_steps("c", "r", 0, 1, ids(10))))
    assert small.result is True and not turns


@pytest_twisted.ensureDeferred
async def test_pieces_arriving_together_take_turns_with_the_reactors_other_work(namenode_app):
    """Each piece was applied whole as it arrived: the pieces of many datanodes that came in one turn of the reactor
    held it for the sum of their costs (at 10^7 replicas on 100 datanodes, 300 holds over 50 ms)."""
    site = QuietSite(namenode_app.resource())
    port = reactor.listenTCP(0, site, interface="127.0.0.1")
    http, pool = make_http(reactor)
    # A turn of the reactor after every step (the default cooperator takes 10 ms of steps a turn), so the timer
    # below sees each.
    namenode_app.repair.cooperator = cooperator = task.Cooperator(terminationPredicateFactory=lambda: lambda: True)
    try:
        namenode = NamenodeClient(http, f"http://127.0.0.1:{port.getHost().port}")
        for node in ("a", "b"):
            namenode_app.registry.register(node, "http://" + node, "http://" + node, 10, 0, 10, None)
        held = {"a": ids(2 * REPORT_STEP), "b": ids(2 * REPORT_STEP, 10**6)}
        turns = []
        ticking = task.LoopingCall(lambda: turns.append(len(namenode_app.registry.replicas)))
        ticking.start(0)
        answers = await defer.gatherResults([
            defer.ensureDeferred(namenode.report_piece(node, "r", 0, 1, blockreports.pieces(held[node])[0]))
            for node in held])
        ticking.stop()
    finally:
        cooperator.stop()
        await pool.closeCachedConnections()
        await port.stopListening()
    assert [answer.code for answer in answers] == [200, 200]
    assert [node.last_report for node in namenode_app.registry.nodes.values()] == [0, 0], "both reports complete"
    assert set(namenode_app.registry.replicas) == set(held["a"]) | set(held["b"])
    assert any(count % (2 * REPORT_STEP) for count in turns), "a timer ran while a piece was partly applied"


def test_the_wire_format_takes_32_bytes_a_block():
    held = ids(10000)
    pieces = blockreports.pieces(held)
    assert [len(piece) for piece in pieces] == [32 * 4096, 32 * 4096, 32 * (10000 - 2 * 4096)]
    assert blockreports.pieces([]) == [b""]
    with pytest.raises(BadRequest):
        blockreports.decode(b"x" * 33)


@given(st.lists(st.binary(min_size=32, max_size=32).map(bytes.hex)), st.integers(1, 50))
def test_pieces_hold_every_id_in_order_each_bounded(held, per_piece):
    pieces = blockreports.pieces(held, per_piece)
    assert [block_id for piece in pieces for block_id in blockreports.decode(piece)] == held
    assert all(len(piece) <= 32 * per_piece for piece in pieces) and len(pieces) == max(1, -(-len(held) // per_piece))


@pytest_twisted.ensureDeferred
async def test_a_piece_that_is_not_whole_ids_is_refused(namenode_app):
    http = StubTreq(namenode_app.resource())
    namenode_app.registry.register("a", "http://a", "http://a", 10, 0, 10, None)
    answer = await http.put(NN + "/cluster/datanodes/a/blocks", params={"report": "r", "piece": "0", "pieces": "1"},
                            data=b"x" * 33)
    assert answer.code == 400
    answer = await http.put(NN + "/cluster/datanodes/a/blocks", params={"report": "r", "piece": "1", "pieces": "1"},
                            data=b"")
    assert answer.code == 400


def test_the_interval_option_and_its_environment_variable(monkeypatch):
    options = DatanodeOptions()
    options.parseOptions([])
    assert options["block-report-interval"] == 6 * 3600
    options.parseOptions(["--block-report-interval", "60"])
    assert options["block-report-interval"] == 60
    with pytest.raises(UsageError):
        DatanodeOptions().parseOptions(["--block-report-interval", "0"])
    monkeypatch.setenv("DFS_BLOCK_REPORT_INTERVAL", "120")
    assert DatanodeOptions()["block-report-interval"] == 120
