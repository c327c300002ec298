"""Safe mode after a namenode restart, with real processes: a lost file does not freeze the cluster, a datanode that
is away is waited for by name, and `dfs safemode` holds, ends and waits for it.

Timing here: heartbeats every 0.5 s, safe mode extension 0.5 s; a datanode sends its full block report as soon as it
registers again with the restarted namenode.
"""

import json
import os
import subprocess
import sys
import time

import requests

H = {"Content-Type": "application/octet-stream"}
REPORT_INTERVAL = 20 * 0.5  # the bound these tests kept when a full report came every 20 heartbeats
EXTENSION = 0.5


def put(cluster, path, data):
    return requests.put(cluster.url + "/webhdfs/v1" + path, params={"op": "CREATE", "data": "true",
                                                                    "overwrite": "true"}, data=data, headers=H,
                        timeout=60)


def dfs(cluster, *args):
    return subprocess.run([sys.executable, "-m", "dfs.cli", "--namenode", cluster.url, *args], capture_output=True,
                          timeout=120, env=dict(os.environ, DFS_TOKEN=""))


def lose_replicas(cluster, path, datanodes):
    """Delete the block files of ``path`` on ``datanodes``, behind their backs."""
    blocks = {b["id"] for f in cluster.fsck(path)["files"] for b in f["blocks"]}
    for i in datanodes:
        for block_id, file_path in cluster.block_files(i).items():
            if block_id in blocks:
                os.remove(file_path)


def node_id(cluster, i):
    with open(os.path.join(cluster.datanode_root(i), "node.json")) as f:
        return json.load(f)["id"]


def test_a_lost_file_does_not_freeze_the_cluster(make_cluster):
    cluster = make_cluster()
    assert put(cluster, "/lost", os.urandom(5000)).status_code == 201
    assert put(cluster, "/kept", os.urandom(5000)).status_code == 201
    lose_replicas(cluster, "/lost", range(3))
    cluster.restart_namenode()
    restarted = time.monotonic()
    deadline = restarted + 60
    while (r := put(cluster, "/after", b"written")).status_code == 503 and time.monotonic() < deadline:
        time.sleep(0.1)
    waited = time.monotonic() - restarted
    assert r.status_code == 201, r.text
    assert waited < EXTENSION + REPORT_INTERVAL, f"writes waited {waited:.1f} s after the restart"
    report = cluster.fsck()
    assert {f["path"]: f["status"] for f in report["files"]} == {"/lost": "missing", "/kept": "healthy",
                                                                 "/after": "healthy"}
    assert report["totals"]["status"] == "CORRUPT"
    cluster.wait_for(lambda s: s["totals"]["missing"] == 1, 30, "the status to count the missing block")
    with requests.get(cluster.url + "/metrics", timeout=10) as m:
        assert 'dfs_blocks{state="missing"} 1.0' in m.text
    assert "blocks on no datanode: they are missing" in cluster.namenode.log()


def test_waits_for_a_known_datanode_by_name_and_the_safemode_commands(make_cluster):
    cluster = make_cluster()
    assert put(cluster, "/only-on-2", os.urandom(5000)).status_code == 201
    assert put(cluster, "/everywhere", os.urandom(5000)).status_code == 201
    away = node_id(cluster, 2)
    cluster.datanodes[2].stop()
    lose_replicas(cluster, "/only-on-2", [0, 1])
    cluster.restart_namenode()
    cluster.wait_for(lambda s: s["safemode"]["reported_blocks"] == 1, 30, "the two datanodes to report")
    time.sleep(EXTENSION + 1)  # long enough for a wrong exit by the extension to show
    r = put(cluster, "/x", b"x")
    assert r.status_code == 503
    message = r.json()["RemoteException"]["message"]
    assert f"1 of 2 blocks reported (99.9% needed); waiting for 1 datanode to report: {away} at http" in message
    state = cluster.status()["safemode"]
    assert state["on"] and [n["id"] for n in state["waiting_for"]] == [away]

    got = dfs(cluster, "safemode", "get")
    assert got.returncode == 0 and got.stdout.decode().startswith("Safe mode is ON: 1 of 2 blocks reported")
    assert away in got.stdout.decode()
    waited = dfs(cluster, "safemode", "wait", "--timeout", "1")
    assert waited.returncode == 1 and "still in safe mode after 1 s" in waited.stderr.decode()

    left = dfs(cluster, "safemode", "leave")
    assert (left.returncode, left.stdout) == (0, b"Safe mode is OFF\n")
    assert put(cluster, "/x", b"x").status_code == 201
    assert {f["path"]: f["status"] for f in cluster.fsck()["files"]}["/only-on-2"] == "missing"

    entered = dfs(cluster, "safemode", "enter")
    assert entered.returncode == 0 and entered.stdout.decode().startswith("Safe mode is ON: entered by an operator")
    cluster.datanodes[2].restart_on_same_port()
    cluster.wait_for(lambda s: s["totals"]["alive"] == 3, 30, "the third datanode back")
    r = put(cluster, "/y", b"y")
    assert r.status_code == 503 and "entered by an operator" in r.json()["RemoteException"]["message"]
    assert cluster.status()["safemode"]["on"], "a held safe mode ignores the reports"

    waiter = subprocess.Popen([sys.executable, "-m", "dfs.cli", "--namenode", cluster.url, "safemode", "wait"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ, DFS_TOKEN=""))
    try:
        assert dfs(cluster, "safemode", "leave").returncode == 0
        out, err = waiter.communicate(timeout=60)
    finally:
        waiter.kill()
    assert (waiter.returncode, out, err) == (0, b"Safe mode is OFF\n", b"")
    assert put(cluster, "/y", b"y").status_code == 201
    cluster.wait_for(lambda s: s["totals"]["missing"] == 0, 30, "the returned datanode's copy to count")
