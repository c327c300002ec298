"""Failure domains with real processes: six datanodes in two racks hold every block in both, before and after one
of them dies and its blocks are copied again."""

import os

import requests

RACKS = ["/zone/rack-a", "/zone/rack-b"]
FAST = dict(datanodes=0, namenode_args=["--gc-grace", "2"], datanode_args=["--gc-grace", "2"])


def racks_of_blocks(cluster):
    """{block id: the racks of its live replicas} as fsck tells, with the node -> rack map of the status page."""
    rack = {n["id"]: n["rack"] for n in cluster.status()["nodes"] if n["state"] == "alive"}
    return {b["id"]: ({rack[r] for r in b["replicas"] if r in rack}, len(b["replicas"]))
            for entry in cluster.fsck()["files"] for b in entry["blocks"]}


def test_every_block_spans_both_racks_and_stays_so_after_a_datanode_dies(make_cluster):
    cluster = make_cluster(**FAST)
    for i in range(6):
        cluster.add_datanode(["--rack", RACKS[i % 2]])
    cluster.wait_for(lambda s: s["totals"]["alive"] == 6, 60, "six datanodes")
    for i in range(4):
        r = requests.put(cluster.url + "/webhdfs/v1/f%d" % i, params={
            "op": "CREATE", "data": "true", "replication": "3", "blocksize": str(1 << 20)},
            data=os.urandom(3 << 20), headers={"Content-Type": "application/octet-stream"}, timeout=60)
        assert r.status_code == 201, r.text
    placed = racks_of_blocks(cluster)
    assert len(placed) == 12
    assert all(racks == set(RACKS) and count == 3 for racks, count in placed.values()), placed
    assert cluster.fsck()["totals"]["single_rack"] == 0
    assert sorted(n["rack"] for n in cluster.status()["nodes"]) == sorted(RACKS * 3)

    cluster.datanodes[0].kill()

    def repaired(status):
        if status["totals"]["dead"] != 1 or status["totals"]["under_replicated"]:
            return False
        now = racks_of_blocks(cluster)
        return len(now) == 12 and all(count == 3 for _, count in now.values())

    cluster.wait_for(repaired, 90, "every block copied again after a datanode died")
    assert all(racks == set(RACKS) for racks, _ in racks_of_blocks(cluster).values())


def test_blocks_written_in_one_rack_move_to_span_two_when_a_second_rack_joins(make_cluster):
    """HDFS's mis-replicated blocks: fsck counts them, repair copies one replica over and trims one where they
    crowd, so each ends in both racks at its replication."""
    cluster = make_cluster(datanodes=3, **{k: v for k, v in FAST.items() if k != "datanodes"})
    for i in range(3):
        r = requests.put(cluster.url + "/webhdfs/v1/old%d" % i, params={
            "op": "CREATE", "data": "true", "replication": "2"}, data=os.urandom(100_000),
            headers={"Content-Type": "application/octet-stream"}, timeout=60)
        assert r.status_code == 201, r.text
    assert cluster.fsck()["totals"]["single_rack"] == 0, "one rack in the cluster: nothing to spread"
    for _ in range(2):
        cluster.add_datanode(["--rack", "/zone/rack-b"])

    def spread(status):
        if status["totals"]["alive"] != 5 or status["totals"]["over_replicated"]:
            return False
        now = racks_of_blocks(cluster)
        return all(racks == {"/default-rack", "/zone/rack-b"} and count == 2 for racks, count in now.values())

    cluster.wait_for(spread, 90, "every block in both racks at replication 2")
    assert cluster.fsck()["totals"]["single_rack"] == 0
