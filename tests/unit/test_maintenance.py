"""A datanode in maintenance takes no new blocks and is read last; its replicas count however long it is silent, as
long as each block keeps the minimum on datanodes in service; when its window ends it is a datanode like the others."""

import pytest
from twisted.internet import defer
from twisted.internet.task import Clock

from dfs.errors import BadRequest
from dfs.namenode.registry import MAINTENANCE_READ_EVERY, Registry, maintenance_reader
from dfs.namenode.repair import Repair

STALE, DEAD = 10, 30


def cluster_of(nodes, minimum=1):
    """A registry of ``nodes`` (ids), each holding block "x", and a Repair judging its replicas."""
    clock = Clock()
    clock.advance(1_000_000)  # windows are absolute times
    registry = Registry(clock, stale_after=STALE, dead_after=DEAD, maintenance_min=minimum)
    for node_id in nodes:
        registry.register(node_id, f"http://{node_id}", f"http://pub-{node_id}", 100, 0, 50, ["x"])
    return registry, Repair(None, registry, None, None, clock), clock


def counted(repair):
    return sorted(n.id for n in repair._replicas("x")[1])


def silence_all_but(registry, clock, seconds, *beating):
    for _ in range(int(seconds)):
        clock.advance(1)
        for node_id in beating:
            registry.heartbeat(node_id, 100, 0, 50)
    registry.update_states()


def test_a_node_in_maintenance_takes_no_writes_is_read_last_and_counts_while_dead():
    registry, repair, clock = cluster_of(["a", "b"])
    registry.set_maintenance("a", clock.seconds() + 3600)
    assert [n.id for n in registry.writable()] == ["b"]
    assert [n.id for n in registry.holders("x")] == ["b", "a"]
    assert registry.describe()[0]["state"] == "maintenance"
    silence_all_but(registry, clock, DEAD + 1, "b")
    assert registry.nodes["a"].state == "dead"
    assert registry.describe()[0]["state"] == "maintenance", "away by design, not lost"
    assert counted(repair) == ["a", "b"], "nothing to copy while it is away"


def test_a_block_below_the_minimum_in_service_is_copied():
    registry, repair, clock = cluster_of(["a", "b"], minimum=2)
    registry.set_maintenance("a", clock.seconds() + 3600)
    assert counted(repair) == ["b"], "one more copy in service wanted"
    registry.set_maintenance("b", clock.seconds() + 3600)
    assert counted(repair) == [], "two copies in service wanted"


def test_when_the_window_ends_a_silent_node_is_dead_and_a_live_one_normal():
    registry, repair, clock = cluster_of(["a", "b", "c"])
    registry.set_maintenance("a", clock.seconds() + 60)
    registry.set_maintenance("b", clock.seconds() + 60)
    silence_all_but(registry, clock, 59, "b", "c")
    assert counted(repair) == ["a", "b", "c"]
    silence_all_but(registry, clock, 2, "b", "c")
    assert counted(repair) == ["b", "c"], "a's window is over: it is dead, its replica copied"
    assert [n.id for n in registry.writable()] == ["b", "c"]
    assert [(e["node"], e["event"]) for e in registry.describe_history()][:2] == [
        ("b", "maintenance over"), ("a", "maintenance over")]


def test_maintenance_ends_early_and_windows_come_from_the_database():
    registry, repair, clock = cluster_of(["a", "b"])
    registry.load_maintenance({"a": clock.seconds() + 3600, "ghost": clock.seconds() + 3600})
    assert registry.nodes["a"].admin == "maintenance"
    registry.set_maintenance("a", None)
    assert registry.nodes["a"].admin == "normal"
    registry.register("ghost", "http://ghost", "http://ghost", 100, 0, 50, [])
    registry.load_maintenance({"ghost": clock.seconds() + 3600})
    assert registry.nodes["ghost"].admin == "maintenance", "a node a restarted namenode learns of later"


def test_a_node_away_when_the_namenode_restarted_may_hold_any_block_until_it_reports():
    registry, repair, clock = cluster_of(["b"])
    registry.load_maintenance({"a": clock.seconds() + 3600})
    assert registry.describe()[0]["state"] == "maintenance" and registry.describe()[0]["liveness"] == "dead"
    assert counted(repair) == ["a", "b"], "nothing copied for a node whose blocks are not known yet"
    registry.register("a", "http://a", "http://a", 100, 0, 50, [])
    assert counted(repair) == ["b"], "it reported: it does not hold x"
    registry.load_maintenance({})
    assert sorted(n.id for n in registry.writable()) == ["a", "b"]


def test_a_decommissioning_node_is_not_put_in_maintenance():
    registry, _, clock = cluster_of(["a", "b"])
    registry.decommission("a")
    with pytest.raises(BadRequest, match="decommissioning"):
        registry.set_maintenance("a", clock.seconds() + 60)


def test_the_namespace_keeps_the_windows(namespace):
    namespace.set_maintenance("a", 1234.5)
    namespace.set_maintenance("b", 10.0)
    namespace.set_maintenance("a", 99.0)
    namespace.set_maintenance("b", None)
    assert namespace.maintenance_windows().result == {"a": 99.0}


def test_a_read_of_the_database_begun_before_a_window_was_set_does_not_undo_it():
    registry, _, clock = cluster_of(["a"])
    reads = []

    class Store:
        def maintenance_windows(self):
            reads.append(defer.Deferred())
            return reads[-1]

    reader = maintenance_reader(Store(), registry, clock)
    reader.startService()
    registry.set_maintenance("a", clock.seconds() + 60)
    reads[0].callback({})  # read before the window was stored
    assert registry.nodes["a"].admin == "maintenance"
    clock.advance(MAINTENANCE_READ_EVERY)
    reads[1].callback({})  # ended by another namenode since
    assert registry.nodes["a"].admin == "normal"
    reader.stopService()
