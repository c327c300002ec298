"""A datanode in maintenance may stop for longer than the dead time without its blocks being copied again (unless a
block would keep fewer than --maintenance-min-replicas elsewhere); reads go to the other replicas meanwhile, and a
node whose maintenance ended while it is still away is dead like any other."""

import os
import subprocess
import sys
import time

import requests

QUIET = 5.0  # seconds of repair passes (every 0.5 s in tests/cluster.py) that must copy nothing


def dfs(cluster, *args, url=None):
    done = subprocess.run([sys.executable, "-m", "dfs.cli", "--namenode", url or cluster.url, *args],
                          capture_output=True, timeout=120, env=dict(os.environ, DFS_TOKEN=""))
    assert done.returncode == 0, done
    return done.stdout.decode()


def read(cluster, path):
    r = requests.get(cluster.url + "/webhdfs/v1" + path, params={"op": "OPEN"}, timeout=60)
    assert r.status_code == 200, r.text
    return r.content


def node_of(cluster, status):
    """The cluster's datanode process described by ``status`` (an entry of /cluster's nodes)."""
    return next(d for d in cluster.datanodes if d.url == status["url"])


def stop_a_holder_in_maintenance(cluster, data):
    """Write a file of replication 2, put a datanode holding it in maintenance and stop it (by pid); its id."""
    cluster.put("/kept", data, replication="2")
    node_id = cluster.fsck()["files"][0]["blocks"][0]["replicas"][0]
    assert dfs(cluster, "maintenance", "--for", "1h", node_id).startswith(f"{node_id}: maintenance until ")
    node_of(cluster, next(n for n in cluster.status()["nodes"] if n["id"] == node_id)).stop()
    cluster.wait_for(lambda s: any(n["id"] == node_id and n["liveness"] == "dead" for n in s["nodes"]), 60,
                     "the datanode in maintenance past the dead time")
    return node_id


def assert_nothing_copied(cluster, data):
    """For QUIET seconds: the file reads back (from the replica in service) and repair copies nothing."""
    deadline = time.monotonic() + QUIET
    while time.monotonic() < deadline:
        assert read(cluster, "/kept") == data
        totals = cluster.status()["totals"]
        assert (totals["copies_done"], totals["under_replicated"], totals["missing"]) == (0, 0, 0), totals
        time.sleep(0.5)
    assert cluster.fsck()["totals"]["status"] == "HEALTHY"


def test_a_node_in_maintenance_is_not_copied_while_away(make_cluster):
    cluster = make_cluster(datanodes=3)
    data = os.urandom(50_000)
    node_id = stop_a_holder_in_maintenance(cluster, data)
    assert_nothing_copied(cluster, data)
    assert f"In maintenance {node_id}: dead, until " in dfs(cluster, "status")

    cluster.restart_namenode()  # the window is in the database; the node's blocks are not known any more
    cluster.wait_for(lambda s: not s["totals"]["safemode"] and any(
        n["id"] == node_id and n["state"] == "maintenance" for n in s["nodes"]), 60, "the restarted namenode ready")
    assert_nothing_copied(cluster, data)

    assert dfs(cluster, "maintenance", "--end", node_id) == f"{node_id}: dead\n"
    cluster.wait_for(lambda s: s["totals"]["copies_done"] >= 1 and not s["totals"]["under_replicated"], 60,
                     "the node still away once its maintenance ended: dead, its block copied again")
    assert read(cluster, "/kept") == data


def test_a_block_below_the_minimum_in_service_is_copied(make_cluster):
    cluster = make_cluster(datanodes=3, namenode_args=["--maintenance-min-replicas", "2"])
    data = os.urandom(50_000)
    node_id = stop_a_holder_in_maintenance(cluster, data)
    status = cluster.wait_for(lambda s: s["totals"]["copies_done"] >= 1 and not s["totals"]["under_replicated"],
                              60, "the block copied to keep two replicas in service")
    holders = cluster.fsck()["files"][0]["blocks"][0]["replicas"]
    assert len(holders) == 2 and node_id not in holders, (holders, status)
    assert read(cluster, "/kept") == data


def test_namenodes_sharing_a_database_share_the_maintenance_windows(postgres_url, make_cluster):
    cluster = make_cluster(datanodes=2, namenodes=2, namenode_args=["--db-url", postgres_url])
    first, second = (namenode.url for namenode in cluster.namenodes)
    node_id = cluster.status()["nodes"][0]["id"]

    def in_state(state):
        return lambda s: any(n["id"] == node_id and n["state"] == state for n in s["nodes"])

    dfs(cluster, "maintenance", "--for", "1h", node_id, url=first)
    cluster.wait_for(in_state("maintenance"), 30, "the window seen by the other namenode", url=second)
    dfs(cluster, "maintenance", "--end", node_id, url=second)
    cluster.wait_for(in_state("alive"), 30, "the end seen by the first namenode", url=first)
