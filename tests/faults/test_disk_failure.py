"""A datanode with two data directories loses one while it runs: it keeps serving from the other, reports the lost
replicas at once, and the namenode copies them elsewhere."""

import os
import shutil

import pytest
import requests

from dfs.datanode.blockstore import BLOCK_ID


def blocks_under(root):
    folder = os.path.join(root, "blocks")
    return {name for prefix in os.listdir(folder) for name in os.listdir(os.path.join(folder, prefix))
            if BLOCK_ID.match(name)}


def test_a_failed_disk_is_tolerated_and_its_replicas_restored(make_cluster, tmp_path):
    cluster = make_cluster(datanodes=3, namenode_args=["--gc-grace", "2"], datanode_args=["--gc-grace", "2"])
    disks = [str(tmp_path / "disk1"), str(tmp_path / "disk2")]
    node = cluster.add_datanode(["--root", ",".join(disks), "--failed-volumes-tolerated", "1"])
    cluster.wait_for(lambda s: s["totals"]["alive"] == 4, 60, "four datanodes")
    node_id = next(n["id"] for n in cluster.status()["nodes"] if n["url"] == node.url)
    files = {}
    for i in range(12):
        files[f"/f{i}"] = os.urandom(50_000 + i)
        r = requests.put(cluster.url + f"/webhdfs/v1/f{i}", params={"op": "CREATE", "data": "true", "replication": "3"},
                         data=files[f"/f{i}"], headers={"Content-Type": "application/octet-stream"}, timeout=60)
        assert r.status_code == 201, r.text
    kept, lost = blocks_under(disks[0]), blocks_under(disks[1])
    assert kept and lost, "new blocks spread over both disks"

    shutil.rmtree(disks[1])

    def restored(status):
        if status["totals"]["alive"] != 4 or status["totals"]["under_replicated"]:
            return False
        holders = {b["id"]: set(b["replicas"]) for f in cluster.fsck()["files"] for b in f["blocks"]}
        return (all(len(h) == 3 for h in holders.values()) and all(node_id in holders[b] for b in kept)
                and status["totals"]["copies_done"] >= len(lost))

    cluster.wait_for(restored, 90, "the lost replicas copied again, the rest still on the datanode")
    assert node.running()
    status = cluster.status()
    assert {n["id"]: n["failed_volumes"] for n in status["nodes"]}[node_id] == 1
    assert f"datanode {node_id} runs without 1 failed data director(ies)" in status["verdict"]["text"]
    for block_id in kept:
        assert requests.get(f"{node.url}/blocks/{block_id}", timeout=30).status_code == 200
    for path, data in files.items():
        r = requests.get(cluster.url + "/webhdfs/v1" + path, params={"op": "OPEN"}, timeout=60)
        assert r.status_code == 200 and r.content == data, path
    assert f"{len(lost)} block(s) lost with a failed data directory" in node.log()
    assert "unreachable" not in node.log(), "the heartbeats went on while the disk was gone"


def test_by_default_a_failed_disk_stops_the_datanode_with_status_1(make_cluster, tmp_path):
    """HDFS's default (dfs.datanode.failed.volumes.tolerated 0): a disk failure is loud, not silently absorbed, and
    the exit status tells a supervisor (swarm, systemd) that the datanode failed, not that it was stopped."""
    cluster = make_cluster(datanodes=1)
    disks = [str(tmp_path / "disk1"), str(tmp_path / "disk2")]
    node = cluster.add_datanode(["--root", ",".join(disks)])
    cluster.wait_for(lambda s: s["totals"]["alive"] == 2, 60, "two datanodes")
    shutil.rmtree(disks[1])
    node.popen.wait(120)
    reason = f"1 data director(ies) failed ({disks[1]}), 0 tolerated (--failed-volumes-tolerated)"
    assert node.popen.returncode == 1, node.log()[-3000:]
    assert f"stopping: {reason}" in node.log()
    assert node.log().rstrip("\n").splitlines()[-1] == f"dfs datanode: stopped: {reason}"
    os.makedirs(disks[1])
    node.stop()  # nothing left to stop: the fixture's finalizer finds it gone


def test_a_datanode_refuses_to_start_with_more_unusable_disks_than_tolerated(make_cluster, tmp_path):
    cluster = make_cluster(datanodes=1)
    (tmp_path / "not-a-dir").write_text("a file where a data directory should be")
    with pytest.raises(RuntimeError, match=r"1 data director\(ies\) unusable \(cannot use .*not-a-dir.*\), 0 tolerated"):
        cluster.add_datanode(["--root", f"{tmp_path / 'disk1'},{tmp_path / 'not-a-dir'}"])
