"""A rolling upgrade under load: a cluster running the previous release (a commit of this repository, extracted with
`git archive`) has its datanodes restarted one at a time on this checkout's code while a client writes and reads
small files the whole time, then its namenode. No client operation fails and nothing is copied again: a restart is
far shorter than the dead time, and the previous release's namenode and this release's datanodes speak a protocol
version both know (dfs.protocol)."""

import io
import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from cluster import launcher_of, source_twistd
from dfs.datanode import layout
from dfs.datanode.blockstore import BlockStore

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The previous release: main before layout and protocol versions. Its datanodes send no protocol version (1).
PREVIOUS = "6c131e9"
# The last commit that stored a .crc beside every block, even one of a single chunk.
SUMS_FOR_EVERY_BLOCK = "408863a"
DATANODES = 4
LOAD_LIMIT = 900  # seconds the client load may run at most, whatever happens to the test
# The client load, in its own process (the blocking client runs its own reactor): small files written with
# replication 2 and read back until STOP exists; then one JSON line of what it did.
LOAD = """
import json, os, sys, time
from dfs.client import BlockingClient
url, stop, limit = sys.argv[1], sys.argv[2], float(sys.argv[3])
client = BlockingClient(url)
done, failures, deadline = 0, [], time.monotonic() + limit
while not os.path.exists(stop) and time.monotonic() < deadline:
    path, data = f"/load/{done + len(failures)}", os.urandom(3000 + done % 5000)
    try:
        client.write(path, data, replication=2)
        if client.read(path) != data:
            raise AssertionError(f"{path} read back differs")
        done += 1
    except Exception as e:
        failures.append(f"{path}: {e!r}")
print(json.dumps({"done": done, "failures": failures}))
"""


def previous_release(tmp_path, commit=PREVIOUS):
    """The dfs/ and twisted/ of ``commit`` (the previous release) extracted into a directory; skips where git or the
    commit is not there (a shallow clone)."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed: the previous release cannot be extracted")
    found = subprocess.run(["git", "-C", REPO, "rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}"],
                           capture_output=True)
    if found.returncode != 0:
        pytest.skip(f"commit {commit} (the previous release) is not in this clone's history (a shallow clone?)")
    archive = subprocess.run(["git", "-C", REPO, "archive", "--format=tar", commit, "dfs", "twisted"],
                             capture_output=True, check=True).stdout
    old = tmp_path / "previous"
    old.mkdir()
    subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
    return old


def upgrade(process, until):
    """Stop ``process`` and start it again on this checkout's code, on the same port and data; what it logs from
    then on, once it logged ``until``."""
    process.stop()
    process.launcher = source_twistd
    before = len(process.log())
    process.restart_on_same_port()
    deadline = time.monotonic() + 120
    while until not in process.log()[before:]:
        assert time.monotonic() < deadline, f"no {until!r} in {process.log_path}:\n{process.log()[-3000:]}"
        time.sleep(0.2)
    return process.log()[before:]


def test_a_rolling_upgrade_under_load_fails_no_operation_and_copies_nothing(make_cluster, tmp_path):
    old = previous_release(tmp_path)
    # The dead time as in production (630 s by default): only a node away longer is copied again.
    cluster = make_cluster(datanodes=DATANODES, namenode_args=["--dead-after", "300"], launcher=launcher_of(old))
    stop = tmp_path / "stop-load"
    load = subprocess.Popen([sys.executable, "-c", LOAD, cluster.url, str(stop), str(LOAD_LIMIT)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ, DFS_TOKEN=""))
    try:
        cluster.wait_for(lambda s: s["totals"]["files"] >= 5, 120, "the client load under way")
        for node in cluster.datanodes:
            assert " blocks)\n" in node.log(), "the previous release's datanode registered (without a protocol)"
            logged = upgrade(node, "registered with namenode")
            assert "protocol 1)" in logged, "this release's datanode speaks the previous release's protocol"
            with open(os.path.join(node.args[node.args.index("--root") + 1], layout.FILE)) as f:
                assert json.load(f) == {"layout": layout.CURRENT}, "the data directory upgraded"
            written = cluster.status()["totals"]["files"]
            cluster.wait_for(lambda s: s["totals"]["files"] >= written + 3 and s["totals"]["alive"] == DATANODES,
                             120, "the load going on with every datanode alive")
        totals = cluster.status()["totals"]
        assert (totals["copies_done"], totals["dead"]) == (0, 0), totals
    finally:
        stop.touch()
        out, err = load.communicate(timeout=120)
    result = json.loads(out.decode().strip().splitlines()[-1]) if out.strip() else {"error": err.decode()[-3000:]}
    assert result.get("failures") == [] and result["done"] >= 4 * DATANODES, result

    upgrade(cluster.namenode, "listening")
    status = cluster.wait_for(lambda s: s["totals"]["alive"] == DATANODES and not s["totals"]["safemode"], 120,
                              "every datanode registered with the upgraded namenode")
    assert {n["protocol"] for n in status["nodes"]} == {2}
    check = subprocess.run([sys.executable, "-m", "dfs.cli", "--namenode", cluster.url, "fsck", "/"],
                           capture_output=True, timeout=120, env=dict(os.environ, DFS_TOKEN=""))
    assert check.returncode == 0, check.stdout.decode()[-3000:]


def test_a_datanode_rolled_back_reads_the_small_blocks_stored_without_checksums(tmp_path):
    # Why a block of one chunk without a .crc needed no new layout version: the release before builds the missing
    # .crc on first read, as for a block from before checksums, so a datanode rolled back to it keeps its blocks.
    old = previous_release(tmp_path, SUMS_FOR_EVERY_BLOCK)
    root = tmp_path / "dn"
    store = BlockStore(str(root))
    data = os.urandom(1000)
    [(block_id, _)] = store.commit_many_sync(io.BytesIO(data), [len(data)])
    assert not os.path.exists(store.sums_path(block_id))
    read = ("import sys; from dfs.datanode.blockstore import BlockStore; store = BlockStore(sys.argv[1]);"
            " store.scan_sync(); sys.stdout.buffer.write(store.read_verified_sync(sys.argv[2], 0, 1000))")
    previous = subprocess.run([sys.executable, "-c", read, str(root), block_id], cwd=old, capture_output=True,
                              env=dict(os.environ, PYTHONPATH=str(old)), timeout=120)
    assert previous.returncode == 0, previous.stderr.decode()[-3000:]
    assert previous.stdout == data and os.path.exists(store.sums_path(block_id))
    assert BlockStore(str(root)).read_verified_sync(block_id, 0, 1000) == data, "and this release again after it"
