"""The cluster's verdict says only what is true: repair under way only while there is repair work."""

from dfs.namenode.verdict import verdict

OFF = {"on": False, "reason": "off"}


def node(state, **extra):
    return {"id": f"n-{state}", "state": state, **extra}


def test_a_dead_datanode_whose_blocks_are_replicated_elsewhere_is_no_repair_under_way():
    state, text = verdict([node("alive"), node("dead")], {"under_replicated": 0, "copies_in_flight": 0}, OFF)
    assert (state, text) == ("degraded", "1 datanode(s) dead")


def test_repair_under_way_only_while_copies_are_in_flight():
    nodes = [node("alive"), node("dead")]
    assert verdict(nodes, {"under_replicated": 4, "copies_in_flight": 0}, OFF)[1] == (
        "4 blocks under-replicated; 1 datanode(s) dead")
    assert verdict(nodes, {"under_replicated": 4, "copies_in_flight": 2}, OFF)[1] == (
        "4 blocks under-replicated, repair under way (2 copies in flight); 1 datanode(s) dead")


def test_the_worst_first():
    nodes = [node("alive"), node("decommissioning", decommission_blocked="cannot finish: 3 of its blocks")]
    assert verdict(nodes, {}, OFF) == ("degraded", "decommission of n-decommissioning cannot finish: 3 of its blocks")
    assert verdict(nodes, {"missing": 1}, OFF)[0] == "missing"
    assert verdict(nodes, {"missing": 1}, {"on": True, "reason": "1 of 2 blocks reported"}) == (
        "safe_mode", "writes wait: 1 of 2 blocks reported")
    assert verdict(nodes, {"unreachable_inodes": 2}, {"on": True, "reason": "x"}) == (
        "corrupt", "2 inodes no path reaches: run dfs fsck")
    assert verdict([node("dead")], {}, OFF) == ("dead", "no datanode is alive")
    assert verdict([node("alive")], {}, OFF) == ("healthy", "")


def test_a_datanode_running_without_a_failed_disk_is_named():
    nodes = [node("alive", failed_volumes=1), node("alive", failed_volumes=0)]
    assert verdict(nodes, {}, OFF) == ("degraded", "datanode n-alive runs without 1 failed data director(ies)")
