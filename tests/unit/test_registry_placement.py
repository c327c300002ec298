from twisted.internet.task import Clock

from dfs.namenode.placement import choose_targets, require_targets, surplus
from dfs.namenode.registry import REPORT_LAG, Registry
from dfs.errors import NoSpace, Unavailable

import pytest


def registry_with(nodes, racks=None):
    """A registry of ``nodes`` [(id, free)], each in the rack ``racks`` maps it to (default: one rack for all)."""
    clock = Clock()
    r = Registry(clock, stale_after=10, dead_after=30)
    for node_id, free in nodes:
        r.register(node_id, f"http://{node_id}", f"http://pub-{node_id}", 100, 0, free, [],
                   rack=(racks or {}).get(node_id))
    return r, clock


TWO_RACKS = {"a1": "/zone/rack-a", "a2": "/zone/rack-a", "a3": "/zone/rack-a",
             "b1": "/zone/rack-b", "b2": "/zone/rack-b", "b3": "/zone/rack-b"}


def two_racks(free=None):
    return registry_with([(n, (free or {}).get(n, 50)) for n in TWO_RACKS], TWO_RACKS)[0]


def test_states_follow_heartbeats():
    r, clock = registry_with([("a", 50), ("b", 50)])
    clock.advance(11)
    r.heartbeat("a", 100, 0, 50)
    assert [n.id for n in r.alive()] == ["a"]
    assert r.nodes["b"].state == "stale"
    clock.advance(20)
    r.update_states()
    assert r.nodes["b"].state == "dead" and r.nodes["a"].state == "stale"
    r.heartbeat("b", 100, 0, 50)
    assert r.nodes["b"].state == "alive"


def test_membership_changes_are_kept_newest_first():
    r, clock = registry_with([("a", 50), ("b", 50)])
    clock.advance(11)
    r.heartbeat("a", 100, 0, 50)
    clock.advance(20)
    r.heartbeat("a", 100, 0, 50)
    r.update_states()
    clock.advance(5)
    r.heartbeat("b", 100, 0, 50)
    r.decommission("a")
    clock.advance(1)
    assert [(e["node"], e["event"], e["seconds_ago"]) for e in r.describe_history()] == [
        ("a", "decommissioning", 1), ("b", "alive again (was dead)", 1), ("b", "dead", 6), ("b", "joined", 37),
        ("a", "joined", 37)]
    for _ in range(500):  # bounded: a flapping node cannot grow it without limit
        r.decommission("a", cancel=True)
    assert len(r.describe_history()) == 100


def test_block_reports_replace_what_a_node_holds():
    r, _ = registry_with([("a", 50), ("b", 50)])
    r.report("a", ["x", "y"])
    r.report("b", ["y"])
    assert {n.id for n in r.holders("y")} == {"a", "b"}
    r.report("a", ["y"])
    assert r.holders("x") == []
    r.remove_replica("y", "b")
    assert [n.id for n in r.holders("y")] == ["a"]


def test_a_report_taken_before_a_write_does_not_drop_its_replica():
    """The datanode's snapshot was on the wire while a block was stored there: no re-replication for that."""
    r, clock = registry_with([("a", 50)])
    r.report("a", ["x"])
    r.add_replica("y", "a")
    r.report("a", ["x"])
    assert [n.id for n in r.holders("y")] == ["a"]
    clock.advance(REPORT_LAG)
    r.heartbeat("a", 100, 0, 50)
    r.report("a", ["x"])
    assert r.holders("y") == [], "a later report is believed"


def test_unknown_node_heartbeat_is_refused():
    r, _ = registry_with([])
    with pytest.raises(Exception) as e:
        r.heartbeat("ghost", 1, 0, 1)
    assert "register" in str(e.value)


def test_placement_prefers_free_space_and_distinct_nodes():
    r, _ = registry_with([("full", 5), ("a", 1000), ("b", 990), ("c", 100)])
    chosen = choose_targets(r.alive(), 3, 10)
    assert len({n.id for n in chosen}) == 3
    assert "full" not in {n.id for n in chosen}
    assert {n.id for n in chosen[:2]} == {"a", "b"}
    assert choose_targets(r.alive(), 3, 10, exclude={"a"})[0].id == "b"
    with pytest.raises(NoSpace, match="The cluster is out of space: 2 of 4 datanode"):
        require_targets(r.alive(), 3, 3, 500)  # nodes enough, room not: retrying cannot help
    with pytest.raises(Unavailable):
        require_targets(r.alive(), 5, 5, 10)  # too few datanodes: some may come back


@pytest.mark.parametrize("writer", ["a2", "b3"])
def test_replicas_go_to_the_writers_node_then_another_rack_then_beside_the_second(writer):
    """HDFS's default rule; the first free-space ranks would put all three in rack a."""
    r = two_racks({"a1": 1000, "a2": 990, "a3": 980})
    for _ in range(20):  # ties are shuffled: every draw obeys the rule
        first, second, third = choose_targets(r.alive(), 3, 10, writer=writer)
        assert first.id == writer
        assert second.rack != first.rack
        assert third.rack == second.rack and third.id != second.id


def test_without_a_local_datanode_the_freest_node_comes_first_and_racks_still_alternate():
    r = two_racks({"a1": 1000})
    chosen = choose_targets(r.alive(), 3, 10, writer="10.9.9.9")
    assert chosen[0].id == "a1"
    assert [n.rack for n in chosen] == ["/zone/rack-a", "/zone/rack-b", "/zone/rack-b"]


def test_a_repair_copy_goes_to_the_rack_the_block_lacks():
    r = two_racks({"a3": 1000})
    placed = [r.nodes["a1"], r.nodes["a2"]]
    for _ in range(20):
        (target,) = choose_targets(r.alive(), 1, 10, exclude={"a1", "a2"}, placed=placed)
        assert target.rack == "/zone/rack-b"


def test_one_rack_places_as_before():
    r, _ = registry_with([("a", 1000), ("b", 990), ("c", 100)])
    assert {n.id for n in choose_targets(r.alive(), 2, 10)} == {"a", "b"}
    assert all(n.rack == "/default-rack" for n in r.alive())


def test_trimming_keeps_both_racks():
    """The fullest replica is the only one in rack b: it stays, and the fullest of rack a goes."""
    r = two_racks({"b1": 1, "a1": 10, "a2": 20, "a3": 30})
    holders = [r.nodes[n] for n in ("a1", "a2", "a3", "b1")]
    assert [n.id for n in surplus(holders, 2)] == ["a1", "a2"]
    assert [n.id for n in surplus(holders[:3], 1)] == ["a1"]


def test_a_heartbeat_carries_the_rack():
    r = two_racks()
    r.heartbeat("a1", 100, 0, 50, rack="/zone/rack-c")
    assert r.nodes["a1"].rack == "/zone/rack-c"
    assert {d["id"]: d["rack"] for d in r.describe()}["a1"] == "/zone/rack-c"


def test_by_default_a_silent_node_is_stale_after_30_s_and_dead_after_10_5_minutes():
    """As HDFS: a datanode restarted or updated within minutes is never declared dead (nothing is copied)."""
    clock = Clock()
    r = Registry(clock)
    for node_id in ("a", "b"):
        r.register(node_id, f"http://{node_id}", f"http://{node_id}", 100, 0, 50, ["x"])
    clock.advance(29)
    r.heartbeat("a", 100, 0, 50)
    assert r.nodes["b"].state == "alive"
    clock.advance(2)
    r.heartbeat("a", 100, 0, 50)
    assert [n.id for n in r.writable()] == ["a"] and r.nodes["b"].state == "stale", "no new blocks go to b"
    clock.advance(598)
    r.heartbeat("a", 100, 0, 50)
    r.update_states()
    assert r.nodes["b"].state == "stale"
    clock.advance(1)
    r.update_states()
    assert r.nodes["b"].state == "dead"
    assert [n.id for n in r.holders("x")] == ["a"]


def test_reads_try_a_stale_holder_last():
    r, clock = registry_with([("a", 50), ("b", 50), ("c", 50)])
    r.report("a", ["x"])
    r.report("b", ["x"])
    clock.advance(11)
    r.heartbeat("b", 100, 0, 50)
    r.heartbeat("c", 100, 0, 50)
    for _ in range(10):
        assert [n.id for n in r.holders("x")] == ["b", "a"], "the stale holder comes after the live one"
    assert [n.id for n in r.holders("x", "alive")] == ["b"]
    assert [n.id for n in r.holders("x", "stale")] == ["a"]
