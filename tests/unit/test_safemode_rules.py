"""Safe mode after a restart: judged on each block report, by the reported share and by the datanodes it had."""

import pytest
from twisted.internet import defer, task
from twisted.internet.task import Clock
from twisted.logger import capturedLogs, formatEvent

from dfs.namenode.namespace.model import Extent
from dfs.namenode.namespace.sqlite import SQLiteNamespace
from dfs.namenode.registry import Registry
from dfs.namenode.repair import Repair
from dfs.namenode.safemode import SafeMode

BLOCKS = [f"{i:064x}" for i in range(10)]


@pytest.fixture
def store(tmp_path):
    """A namespace of ten one-block files, from a cluster that had datanodes n1, n2 and n3."""
    store = SQLiteNamespace(str(tmp_path / "ns.sqlite"))
    store.start()
    for i, block_id in enumerate(BLOCKS):
        store.create(f"/f{i}", [Extent(block_id, 0, 100, 100)], overwrite=False)
    for node_id in ("n1", "n2", "n3"):
        store.remember_datanode(node_id, f"http://{node_id}:9000")
    yield store
    store.stop()


def started(store, **kwargs):
    clock = Clock()
    registry = Registry(clock)
    left = []
    safemode = SafeMode(store, registry, clock, on_leave=lambda: left.append(clock.seconds()), **kwargs)
    safemode.start()
    return safemode, registry, clock, left


def report(safemode, registry, node_id, blocks):
    """What the namenode does when a datanode registers with its full block report."""
    node = registry.register(node_id, f"http://{node_id}:9000", f"http://{node_id}:9000", 100, 0, 100, blocks)
    defer.ensureDeferred(safemode.remember(node.id, node.url))
    safemode.reported(node.id, blocks)


def test_leaves_at_once_when_every_known_datanode_reported_even_with_a_lost_block(store):
    safemode, registry, clock, left = started(store, extension=30)
    report(safemode, registry, "n1", BLOCKS[1:])
    report(safemode, registry, "n2", BLOCKS[1:5])
    assert safemode.on
    assert "waiting for 1 datanode to report: n3 at http://n3:9000" in safemode.reason()
    assert "9 of 10 blocks reported" in safemode.reason()
    report(safemode, registry, "n3", BLOCKS[5:])
    assert not safemode.on and left == [0], "judged on the report itself, not on a later repair pass"


def test_threshold_reached_leaves_after_the_extension(store):
    safemode, registry, clock, left = started(store, extension=3, threshold=0.9)
    report(safemode, registry, "n1", BLOCKS[1:])
    assert safemode.on and "leaving in 3.0 s" in safemode.reason()
    clock.advance(2.9)
    assert safemode.on
    clock.advance(0.2)
    assert not safemode.on and left == [pytest.approx(3.1)]


def test_stays_while_a_known_datanode_is_away_below_the_threshold(store):
    safemode, registry, clock, left = started(store, extension=1)
    report(safemode, registry, "n1", BLOCKS[:8])
    report(safemode, registry, "n2", BLOCKS[:8])
    clock.advance(3600)
    assert safemode.on and not left
    state = safemode.describe()
    assert state["waiting_for"] == [{"id": "n3", "url": "http://n3:9000"}]
    assert (state["reported_blocks"], state["blocks"]) == (8, 10)
    assert "8 of 10 blocks reported (99.9% needed); waiting for 1 datanode to report: n3" in safemode.reason()


def test_reports_before_the_namespace_is_read_count(store):
    clock = Clock()
    registry = Registry(clock)
    safemode = SafeMode(store, registry, clock)
    assert safemode.reason() == "reading the namespace" and safemode.describe()["waiting_for"] is None
    for node_id in ("n1", "n2", "n3"):
        report(safemode, registry, node_id, BLOCKS)
    assert safemode.on
    safemode.start()
    assert not safemode.on


def test_the_namespaces_blocks_are_walked_in_steps_and_a_report_meanwhile_counts(store, monkeypatch):
    """In one go the walk held the reactor 4 s at 3.3 x 10^6 blocks while the datanodes registered."""
    monkeypatch.setattr("dfs.namenode.safemode.READ_STEP", 3)
    turns = []
    cooperator = task.Cooperator(scheduler=turns.append, terminationPredicateFactory=lambda: lambda: True)
    clock = Clock()
    registry = Registry(clock)
    safemode = SafeMode(store, registry, clock, cooperator=cooperator)
    safemode.start()
    assert safemode.reason() == "reading the namespace" and turns, "3 of 10 blocks walked, the rest waits a turn"
    turns.pop(0)()
    report(safemode, registry, "n1", BLOCKS)  # 6 blocks walked (unreported), 4 not yet
    while turns:
        turns.pop(0)()
    assert "10 of 10 blocks reported" in safemode.reason()


def test_a_database_without_known_datanodes_waits_for_the_threshold(tmp_path):
    store = SQLiteNamespace(str(tmp_path / "old.sqlite"))
    store.start()
    store.create("/f", [Extent(BLOCKS[0], 0, 100, 100)], overwrite=False)
    store.create("/g", [Extent(BLOCKS[1], 0, 100, 100)], overwrite=False)
    safemode, registry, clock, left = started(store, extension=1)
    report(safemode, registry, "n1", BLOCKS[:1])
    clock.advance(60)
    assert safemode.on, "the first datanode to register is not all the cluster had"
    assert "waiting for datanodes to report their blocks" in safemode.reason()
    assert store.known_datanodes().result == {"n1": "http://n1:9000"}
    store.stop()


def test_an_empty_namespace_leaves_at_once(tmp_path):
    store = SQLiteNamespace(str(tmp_path / "new.sqlite"))
    store.start()
    safemode, _, _, left = started(store)
    assert not safemode.on and left == [0]
    store.stop()


def test_an_operator_holds_and_ends_it(store):
    safemode, registry, clock, left = started(store)
    safemode.enter()
    for node_id in ("n1", "n2", "n3"):
        report(safemode, registry, node_id, BLOCKS)
    clock.advance(60)
    assert safemode.on and safemode.held and "dfs safemode leave" in safemode.reason()
    safemode.leave()
    assert not safemode.on and safemode.reason() == "off" and left == [60]
    report(safemode, registry, "n1", BLOCKS)
    assert not safemode.on


def test_an_operator_ends_it_with_blocks_missing(store):
    safemode, registry, clock, left = started(store)
    report(safemode, registry, "n1", BLOCKS[:3])
    safemode.leave()
    assert not safemode.on and safemode.describe()["waiting_for"] == []


def test_a_decommissioned_datanode_is_not_waited_for_after_a_restart(store):
    safemode, registry, clock, left = started(store)
    defer.ensureDeferred(safemode.forget("n3"))
    safemode.stop()
    restarted, registry, clock, left = started(store, extension=30)
    report(restarted, registry, "n1", BLOCKS)
    report(restarted, registry, "n2", BLOCKS)
    assert not restarted.on and left == [0], "every datanode the cluster still has reported"


def test_leaving_with_blocks_missing_names_their_files_in_the_log(store):
    """A restored backup naming blocks gone since: safe mode ends once every datanode reported, and fsck's list of
    the files whose blocks are gone is logged (the operator need not know to run it)."""
    clock = Clock()
    registry = Registry(clock)
    repair = Repair(store, registry, None, None, clock)
    repair.safemode.start()
    with capturedLogs() as events:
        for node_id in ("n1", "n2", "n3"):
            report(repair.safemode, registry, node_id, BLOCKS[2:])
    lines = [formatEvent(e) for e in events]
    assert not repair.safemode.on and repair.safemode.lost == 2
    assert "fsck: /f0 has 1 of its 1 blocks on no datanode" in lines
    assert "fsck: /f1 has 1 of its 1 blocks on no datanode" in lines
    assert "fsck after safe mode: 2 files have blocks on no datanode" in lines


def test_the_blocks_waited_for_are_kept_in_shards(store):
    """A dict of 3 x 10^6 unreported blocks grew on the reactor while it was filled, 0.11 s a growth."""
    safemode, registry, clock, left = started(store)
    report(safemode, registry, "n1", BLOCKS[:1])
    assert safemode.on
    largest = max(map(len, getattr(safemode._unreported, "_shards", [safemode._unreported])))
    assert largest < len(BLOCKS) / 2, "one dict held every block waited for"
