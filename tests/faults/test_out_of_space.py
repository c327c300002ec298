"""A cluster whose datanodes are all full refuses uploads with 507 "out of space" (which no client retries), and
takes them again as soon as space is freed, without a restart."""

import os
import subprocess
import sys
import time

import requests

H = {"Content-Type": "application/octet-stream"}
MIB = 1024 * 1024


def put(cluster, path, data):
    return requests.put(cluster.url + "/webhdfs/v1" + path, params={"op": "CREATE", "data": "true"}, data=data,
                        headers=H, timeout=60)


def test_a_full_cluster_says_so_and_recovers_when_space_is_freed(make_cluster, tmp_path):
    cluster = make_cluster(namenode_args=["--gc-grace", "1"],
                           datanode_args=["--capacity", "3M", "--reserve", "0", "--gc-grace", "1"])
    for i in range(3):
        assert put(cluster, f"/f{i}", os.urandom(MIB)).status_code == 201
    cluster.wait_for(lambda s: all(n["free"] < MIB for n in s["nodes"]), 30, "every datanode to report itself full")

    r = put(cluster, "/more", os.urandom(MIB))
    assert r.status_code == 507, r.text
    error = r.json()["RemoteException"]
    assert error["exception"] == "ClusterStorageCapacityExceededException"
    assert error["message"].startswith("The cluster is out of space: 0 of 3 datanode(s) have")

    local = tmp_path / "more"
    local.write_bytes(os.urandom(MIB))
    started = time.monotonic()
    cli = subprocess.run([sys.executable, "-m", "dfs.cli", "--namenode", cluster.url, "put", str(local), "/more"],
                         capture_output=True, timeout=120, env=dict(os.environ, DFS_TOKEN=""))
    assert cli.returncode == 1 and "The cluster is out of space" in cli.stderr.decode(), cli
    assert time.monotonic() - started < 30, "dfs put stops on 507 instead of retrying"

    assert requests.delete(cluster.url + "/webhdfs/v1/f0", params={"op": "DELETE"}, timeout=10).json()["boolean"]
    cluster.wait_for(lambda s: all(n["free"] >= MIB for n in s["nodes"]), 60, "GC to free space on every datanode")
    assert put(cluster, "/more", os.urandom(MIB)).status_code == 201
