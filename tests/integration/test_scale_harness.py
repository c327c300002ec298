"""bench/scale.py at toy size: a real namenode, five played datanodes, 1,000 replicas; it prints every figure, for
the current protocol and for a rolling upgrade's mix of it and the previous one."""

import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCALE = os.path.join(REPO, "bench", "scale.py")
FIGURES = ["namenode_cpu_share_registration", "namenode_cpu_share_steady", "rss_with_replicas_mib", "bytes_per_file",
           "bytes_per_replica", "full_report_registration_p50_s", "full_report_registration_max_s",
           "stall_all_p99_s", "stall_all_max_s", "heartbeat_p99_s", "reactor_lag_timers_over_50ms"]


@pytest.mark.parametrize("speaking, protocols, requests", [
    ([], "2:5", {"fetch batch", "delete batch"}),
    # In the mix the copy's target may speak either protocol: a batch where it does, one block after a 404 where not.
    (["--old-share", "0.5"], "1:3 2:2", {"fetch batch", "delete batch", "fetch one", "delete one",
                                         "batch refused (404)"}),
])
def test_scale_harness_prints_its_figures(tmp_path, speaking, protocols, requests):
    out = tmp_path / "scale"
    # 0.003 of 333 blocks: one under-replicated (block 0) and one over-replicated (block 1), on datanodes 0 to 3;
    # repair has 10 s (three passes) to copy the one and trim the other
    run = subprocess.run([sys.executable, SCALE, "--datanodes", "5", "--replicas", "1000", "--seconds", "10",
                          "--over-replicated", "0.003", *speaking, "--work", str(tmp_path / "work"), "--out", str(out)],
                         capture_output=True, text=True, timeout=600, cwd=REPO)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    printed = dict(line.split(": ", 1) for line in run.stdout.splitlines() if ": " in line)
    for name in FIGURES:
        float(printed[name])  # a number (bytes per file may be below 0 at this size: the RSS of two processes)
    assert float(printed["rss_with_replicas_mib"]) > 0
    assert printed["datanodes"] == "5"
    assert printed["protocols"] == protocols
    assert printed["replicas"] == "999"  # 333 blocks, one of them reported one replica short, one with one more
    assert printed["failures"] == "0"
    figures = json.loads((tmp_path / "scale.json").read_text())
    assert len(figures["report_seconds"]["registration"]) == 5
    assert figures["status"]["alive"] == 5
    assert figures["status"]["missing"] == 0
    assert (figures["copies_answered"], figures["deletes_answered"]) == (1, 1)
    assert set(figures["block_requests"]) <= requests


def test_every_block_is_on_distinct_datanodes_and_in_their_reports():
    sys.path.insert(0, os.path.join(REPO, "bench"))
    from scale import Layout

    layout = Layout(datanodes=7, replicas=300, replication=3, blocks_per_file=2, under_replicated=0.1)
    holders = {}
    for node in range(layout.datanodes):
        for b in layout.blocks_of(node):
            holders.setdefault(b, []).append(node)
    assert sorted(holders) == list(range(layout.blocks))
    assert all(len(set(nodes)) == len(nodes) == layout.copies(b) for b, nodes in holders.items())
    assert sum(map(len, holders.values())) == layout.replicas() == 100 * 3 - 10
    assert layout.files == 50


def test_the_filled_namespace_is_a_tree_whose_files_name_every_block(tmp_path):
    sys.path.insert(0, os.path.join(REPO, "bench"))
    from scale import Layout, fill, result_of

    from dfs.namenode.namespace.sqlite import SQLiteNamespace

    layout = Layout(datanodes=5, replicas=7_500, replication=3, blocks_per_file=2, under_replicated=0)
    fill(str(tmp_path / "ns.sqlite"), layout, 1000)
    ns = SQLiteNamespace(str(tmp_path / "ns.sqlite"))
    ns.open()
    try:
        assert result_of(ns.namespace_problems()) == []
        assert result_of(ns.count_files()) == 1250
        targets = result_of(ns.block_targets())
        assert set(targets) == {layout.block_id(b) for b in range(2500)}
        inode, extents = result_of(ns.stat("/scale/d1/f1249"))
        assert (inode.size, inode.replication, [e.block_id for e in extents]) == (
            2000, 3, [layout.block_id(2498), layout.block_id(2499)])
    finally:
        ns.stop()
