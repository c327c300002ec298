"""What the operator is told is true: a decommission that cannot finish says so, an unknown node is named as such,
and datanodes sharing one disk count its capacity once."""

import json
import os
import subprocess
import sys

import requests

H = {"Content-Type": "application/octet-stream"}


def dfs(cluster, *args, timeout=120):
    return subprocess.run([sys.executable, "-m", "dfs.cli", "--namenode", cluster.url, *args], capture_output=True,
                          timeout=timeout, env=dict(os.environ, DFS_TOKEN=""))


def test_a_decommission_that_cannot_finish_says_so(make_cluster):
    cluster = make_cluster()
    r = requests.put(cluster.url + "/webhdfs/v1/f", params={"op": "CREATE", "data": "true"}, data=b"x" * 5000,
                     headers=H, timeout=60)
    assert r.status_code == 201
    node_id = cluster.status()["nodes"][0]["id"]

    waited = dfs(cluster, "decommission", "--wait", node_id, timeout=60)
    assert waited.returncode == 1, waited
    assert (f"dfs: decommission: {node_id}: cannot finish: 1 of its blocks need more replicas than the 2"
            " datanode(s) in service can hold") in waited.stderr.decode()
    assert f"{node_id}: 1 blocks still to copy" in waited.stderr.decode(), "--wait shows progress"
    status = cluster.status()
    assert status["verdict"]["state"] == "degraded" and "cannot finish" in status["verdict"]["text"]
    assert "cannot finish" in dfs(cluster, "status").stdout.decode()
    assert dfs(cluster, "decommission", "--cancel", node_id).returncode == 0

    unknown = dfs(cluster, "decommission", "nosuchnode")
    assert (unknown.returncode, unknown.stderr.decode()) == (
        1, "dfs: decommission: no datanode named nosuchnode (dfs status lists them)\n")


def test_datanodes_on_one_filesystem_count_its_capacity_once(cluster):
    status = cluster.status()
    nodes = status["nodes"]
    assert len({n["filesystem"] for n in nodes}) == 1, "the fixture's datanodes share one temporary directory"
    assert status["totals"]["capacity"] == nodes[0]["capacity"]
    df = json.loads(dfs(cluster, "df", "--json").stdout)
    assert df["capacity"] == nodes[0]["capacity"]
