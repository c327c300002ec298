"""Restarts and lost datanodes with real processes: reads survive, state is kept, failures leave no trace."""

import os
import signal
import subprocess
import sys

import requests

H = {"Content-Type": "application/octet-stream"}


def put(cluster, path, data, **params):
    r = requests.put(cluster.url + "/webhdfs/v1" + path, params={"op": "CREATE", "data": "true", **params},
                     data=data, headers=H)
    return r


def get(cluster, path):
    r = requests.get(cluster.url + "/webhdfs/v1" + path, params={"op": "OPEN"})
    assert r.status_code == 200, r.text
    return r.content


def client_read(cluster, path):
    """Read with the dfs client in a separate process (it verifies blocks and falls back across replicas)."""
    code = ("import sys; from dfs.client import BlockingClient; "
            f"sys.stdout.buffer.write(BlockingClient({cluster.url!r}).read({path!r}))")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, check=True, timeout=60).stdout


def test_read_survives_a_sigkilled_datanode(make_cluster):
    cluster = make_cluster()
    data = os.urandom(600_000)
    assert put(cluster, "/f", data, blocksize=65536, replication=2).status_code == 201
    victim = cluster.datanodes[0]
    victim.signal(signal.SIGKILL)
    victim.popen.wait()
    # The smart client goes straight to replicas and skips the dead one at once.
    assert client_read(cluster, "/f") == data
    # A WebHDFS reader is redirected to a live datanode, which fetches what it lacks from live peers,
    # as soon as the namenode stops offering the dead node (stale after 3 missed seconds here).
    cluster.wait_for(lambda s: sum(n["state"] == "alive" for n in s["nodes"]) == 2)
    for _ in range(10):
        assert get(cluster, "/f") == data


def test_namenode_restart_keeps_namespace_and_relearns_replicas(make_cluster):
    cluster = make_cluster()
    data = os.urandom(300_000)
    assert put(cluster, "/keep/f", data, blocksize=65536).status_code == 201
    cluster_id = cluster.status()["cluster_id"]
    cluster.restart_namenode()
    status = cluster.wait_for(lambda s: s["totals"]["alive"] == 3 and not s["totals"]["safemode"])
    assert status["cluster_id"] == cluster_id
    assert get(cluster, "/keep/f") == data
    locations = requests.get(cluster.url + "/webhdfs/v1/keep/f", params={"op": "GETFILEBLOCKLOCATIONS"}).json()
    assert all(len(b["hosts"]) == 3 for b in locations["BlockLocations"]["BlockLocation"])


def test_datanode_restart_rejoins_as_itself(make_cluster):
    cluster = make_cluster()
    assert put(cluster, "/f", b"x" * 100_000).status_code == 201
    before = {n["id"] for n in cluster.status()["nodes"]}
    cluster.restart_datanode(1)
    status = cluster.wait_for(lambda s: s["totals"]["alive"] == 3 and all(n["blocks"] == 1 for n in s["nodes"]))
    assert {n["id"] for n in status["nodes"]} == before


def test_failed_upload_leaves_previous_version(make_cluster):
    cluster = make_cluster(datanodes=2)
    assert put(cluster, "/f", b"version one").status_code == 201
    for node in cluster.datanodes:
        node.stop()
    r = put(cluster, "/f", b"version two", overwrite="true")
    assert r.status_code == 503 and "datanode" in r.json()["RemoteException"]["message"]
    for node in cluster.datanodes:
        node.restart_on_same_port()
    cluster.wait_for(lambda s: s["totals"]["alive"] == 2)
    assert get(cluster, "/f") == b"version one"
