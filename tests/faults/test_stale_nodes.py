"""A silent datanode is stale first (no new blocks, reads elsewhere, nothing copied), and dead only later (its blocks
copied again), with `dfs status` telling which."""

import os
import signal
import subprocess
import sys

import requests

STALE, DEAD = 2, 20


def dfs_status(cluster, tmp_path):
    env = dict(os.environ, DFS_NAMENODE_URL=cluster.url, DFS_CONFIG=str(tmp_path / "none.toml"), DFS_TOKEN="")
    result = subprocess.run([sys.executable, "-m", "dfs.cli", "status"], capture_output=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.decode()


def test_a_silent_datanode_is_stale_then_dead(make_cluster, tmp_path):
    cluster = make_cluster(datanodes=4, namenode_args=["--stale-after", str(STALE), "--dead-after", str(DEAD)])
    cluster.put("/before", os.urandom(10_000), replication="3")
    victim_id = cluster.fsck()["files"][0]["blocks"][0]["replicas"][0]  # a node with a block to copy once dead
    victim_url = next(n["url"] for n in cluster.status()["nodes"] if n["id"] == victim_id)
    victim = next(d for d in cluster.datanodes if d.url == victim_url)
    victim.signal(signal.SIGSTOP)
    try:
        status = cluster.wait_for(lambda s: s["totals"]["stale"] == 1, 30, "the paused datanode stale")
        copies = status["totals"]["copies_done"]
        assert f"{victim_id}  stale" in dfs_status(cluster, tmp_path).replace("   ", "  ")
        for i in range(5):
            cluster.put(f"/during{i}", os.urandom(10_000 + i), replication="3")
            r = requests.get(cluster.url + "/webhdfs/v1/before", params={"op": "OPEN"}, allow_redirects=False,
                             timeout=30)
            assert r.status_code == 307 and not r.headers["Location"].startswith(victim.url), "read sent to it"
        report = cluster.fsck()
        during = [b for f in report["files"] if f["path"].startswith("/during") for b in f["blocks"]]
        assert all(victim_id not in b["replicas"] for b in during), "a new block went to the stale datanode"
        status = cluster.status()
        assert status["totals"]["stale"] == 1, "the test ran past the dead time: raise DEAD"
        assert status["totals"]["copies_done"] == copies, "a stale node's replicas still count: nothing copied"

        status = cluster.wait_for(lambda s: s["totals"]["dead"] == 1, 60, "the paused datanode dead")
        assert "1 dead" in dfs_status(cluster, tmp_path)
        cluster.wait_for(lambda s: s["totals"]["copies_done"] > copies and not s["totals"]["under_replicated"], 60,
                         "the dead datanode's blocks copied again")
    finally:
        victim.signal(signal.SIGCONT)
    cluster.wait_for(lambda s: s["totals"]["alive"] == 4, 60, "the datanode back")
