"""The balancer with real processes: `dfs balance` spreads three full datanodes' replicas onto a new empty one, no
block ever under its replication (checked while it runs, on the namenode's view and on the datanodes' disks), racks
kept, every file read back unchanged."""

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter

import requests

DFS = [sys.executable, "-m", "dfs.cli"]
BLOCK = 256 * 1024
# Every datanode offers 8 MiB, so a few MiB of files make utilizations far apart; fast GC is not wanted here.
ARGS = dict(namenode_args=["--replication", "2"], datanode_args=["--capacity", "8M", "--reserve", "0"])
RUN_LIMIT = 240  # seconds the balancer may take on a loaded machine


def put_files(cluster, count, size):
    """``count`` random files of ``size`` bytes in blocks of BLOCK; {path: sha256}."""
    digests = {}
    for i in range(count):
        data = os.urandom(size)
        r = requests.put(cluster.url + f"/webhdfs/v1/f{i}", params={"op": "CREATE", "data": "true",
                                                                    "blocksize": str(BLOCK)},
                         data=data, headers={"Content-Type": "application/octet-stream"}, timeout=60)
        assert r.status_code == 201, r.text
        digests[f"/f{i}"] = hashlib.sha256(data).hexdigest()
    return digests


def utilizations(status):
    """{node id: percent used} of the live datanodes, and their mean (all used over all capacity)."""
    nodes = [n for n in status["nodes"] if n["state"] == "alive"]
    mean = 100 * sum(n["used"] for n in nodes) / sum(n["capacity"] for n in nodes)
    return {n["id"]: 100 * n["used"] / n["capacity"] for n in nodes}, mean


def blocks_on_disk(cluster):
    """{block id: datanodes holding its file}, read from the datanodes' directories."""
    held = Counter()
    for i in range(len(cluster.datanodes)):
        held.update(cluster.block_files(i).keys())
    return held


def check_replication(cluster, racks=None):
    """Every block has at least its replication in live replicas, by fsck and on disk; with ``racks`` (node id ->
    rack), its replicas span two racks."""
    report = cluster.fsck()
    on_disk = blocks_on_disk(cluster)
    for entry in report["files"]:
        for block in entry["blocks"]:
            assert len(block["replicas"]) >= entry["replication"], (entry["path"], block)
            assert on_disk[block["id"]] >= entry["replication"], (entry["path"], block["id"], on_disk[block["id"]])
            if racks is not None:
                assert len({racks[r] for r in block["replicas"]}) == 2, (entry["path"], block)
    return report


def balance(cluster, *args, racks=None):
    """Run `dfs balance ARGS` to its end, checking replication all the while; its stdout, stderr and the number of
    checks made while it ran."""
    env = dict(os.environ, DFS_NAMENODE_URL=cluster.url, DFS_CONFIG=os.devnull, DFS_TOKEN="")
    process = subprocess.Popen([*DFS, "balance", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    checks = 0
    try:
        deadline = time.monotonic() + RUN_LIMIT
        while process.poll() is None and time.monotonic() < deadline:
            check_replication(cluster, racks)
            checks += 1
        out, err = process.communicate(timeout=max(deadline - time.monotonic(), 1))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, (out.decode(), err.decode())
    return out.decode(), err.decode(), checks


def read_back(cluster, digests):
    for path, digest in digests.items():
        r = requests.get(cluster.url + "/webhdfs/v1" + path, params={"op": "OPEN"}, timeout=60)
        assert r.status_code == 200, (path, r.text)
        assert hashlib.sha256(r.content).hexdigest() == digest, path


def test_a_new_empty_datanode_gets_its_share_and_no_block_is_ever_under_replicated(make_cluster):
    cluster = make_cluster(datanodes=3, **ARGS)
    digests = put_files(cluster, 6, 1024 * 1024)  # 12 MiB of replicas on 24 MiB: 50% each
    cluster.add_datanode()
    status = cluster.wait_for(lambda s: s["totals"]["alive"] == 4, 60, "the new datanode")
    levels, mean = utilizations(status)
    assert min(levels.values()) == 0 and max(levels.values()) - mean > 10, levels

    started = time.monotonic()
    out, err, checks = balance(cluster, "--threshold", "10", "--bandwidth", "0.25")
    took = time.monotonic() - started

    assert checks >= 2, "the balancer ended before replication could be checked while it ran"
    assert "dfs: balance:" in err and "moves done" in err, err
    run = cluster.get_json("/cluster/balance")
    assert run["state"] == "balanced" and run["moves_done"] > 0, run
    assert took >= run["bytes_moved"] / (0.25 * 1024 * 1024), (took, run)  # throttled to 0.25 MB/s
    assert "Balancer balanced" in out, out
    levels, mean = utilizations(cluster.status())
    assert all(abs(level - mean) <= 10 for level in levels.values()), (levels, mean)
    assert cluster.fsck()["totals"]["status"] == "HEALTHY"
    read_back(cluster, digests)
    stopped = subprocess.run([*DFS, "balance", "--stop"], capture_output=True, timeout=60,
                             env=dict(os.environ, DFS_NAMENODE_URL=cluster.url, DFS_CONFIG=os.devnull, DFS_TOKEN=""))
    assert stopped.returncode == 0 and b"Balancer balanced" in stopped.stdout, stopped  # nothing was running


def test_a_block_in_two_racks_stays_in_two_racks(make_cluster):
    cluster = make_cluster(datanodes=0, **ARGS)
    for rack in ("/r/a", "/r/a", "/r/b"):  # every block has one replica on the lone /r/b node
        cluster.add_datanode(["--rack", rack])
    cluster.wait_for(lambda s: s["totals"]["alive"] == 3, 60, "three datanodes")
    digests = put_files(cluster, 4, 1024 * 1024)  # /r/b's node at 50%, the others at 25%
    # A new empty node in each rack: the full /r/b node may give replicas only to its rack's (the /r/a one comes
    # first, so a balancer blind to racks would fill it from there).
    for rack in ("/r/a", "/r/b"):
        cluster.add_datanode(["--rack", rack])
    status = cluster.wait_for(lambda s: s["totals"]["alive"] == 5, 60, "the new datanodes")
    racks = {n["id"]: n["rack"] for n in status["nodes"]}
    check_replication(cluster, racks)

    balance(cluster, "--threshold", "10", "--bandwidth", "0.5", racks=racks)

    levels, mean = utilizations(cluster.status())
    assert all(abs(level - mean) <= 10 for level in levels.values()), (levels, mean)
    check_replication(cluster, racks)
    read_back(cluster, digests)


def test_the_leader_balances_in_the_background_when_configured(make_cluster):
    cluster = make_cluster(datanodes=3, namenode_args=[*ARGS["namenode_args"], "--balance-threshold", "10",
                                                       "--balance-interval", "2s"],
                           datanode_args=ARGS["datanode_args"])
    digests = put_files(cluster, 6, 1024 * 1024)
    cluster.add_datanode()

    def balanced(status):
        levels, mean = utilizations(status)
        return len(levels) == 4 and all(abs(level - mean) <= 10 for level in levels.values())

    deadline = time.monotonic() + RUN_LIMIT
    while not balanced(cluster.status()) and time.monotonic() < deadline:
        check_replication(cluster)
    run = cluster.get_json("/cluster/balance")  # the latest run: maybe one after the moves, that found nothing to do
    assert balanced(cluster.status()) and run["background"], run
    assert "balancer moved" in cluster.namenode.log()
    # Unthrottled (100 MB/s), the moves to the new node go in batches: one copy request carried several blocks.
    batches = [int(n) for n in re.findall(r"POST /blocks/fetch fetch_blocks 200 in=(\d+)", cluster.datanodes[3].log())]
    assert batches and max(batches) > len(json.dumps({"blocks": ["0" * 64]})), batches
    read_back(cluster, digests)


def test_ctrl_c_stops_the_run_after_its_move_and_every_block_keeps_its_replicas(make_cluster):
    cluster = make_cluster(datanodes=3, **ARGS)
    digests = put_files(cluster, 6, 1024 * 1024)
    cluster.add_datanode()
    cluster.wait_for(lambda s: s["totals"]["alive"] == 4, 60, "the new datanode")
    env = dict(os.environ, DFS_NAMENODE_URL=cluster.url, DFS_CONFIG=os.devnull, DFS_TOKEN="")
    process = subprocess.Popen([*DFS, "balance", "--bandwidth", "0.1"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=env)
    try:
        deadline = time.monotonic() + RUN_LIMIT
        while cluster.get_json("/cluster/balance").get("moves_done", 0) < 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, err.decode()
    run = cluster.get_json("/cluster/balance")
    assert run["state"] == "stopped" and run["why"] == "stopped on request", run
    assert 1 <= run["moves_done"] < 9, run  # at 0.1 MB/s the run was far from done
    check_replication(cluster)
    read_back(cluster, digests)
