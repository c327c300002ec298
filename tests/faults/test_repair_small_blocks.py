"""Re-replication of many small blocks: when a datanode dies, every block it held is copied again within seconds
(copies go in batches, throttled by bytes in flight), and each exactly once.
Timing here: heartbeats every 0.5 s, stale after 3 s, dead after 6 s, repair every 0.5 s.
"""

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from test_durability import FAST, put, settle

FILES = 600  # 600 blocks of 1-4 KB, three replicas each on four datanodes: ~450 on each


def test_a_dead_nodes_small_blocks_are_all_copied_again_quickly(make_cluster):
    cluster = make_cluster(datanodes=4, **FAST)
    files = {f"/small/f{i}": os.urandom(1024 + i * 5) for i in range(FILES)}
    with ThreadPoolExecutor(4) as pool:
        assert set(pool.map(lambda item: put(cluster, *item).status_code, files.items())) == {201}
    victim = cluster.datanodes[0]
    held = len(cluster.block_files(0))
    victim.signal(signal.SIGSTOP)
    try:
        cluster.wait_for(lambda s: s["totals"]["dead"] == 1, 30, "the stopped node to be dead")
        started = time.monotonic()
        cluster.wait_for(lambda s: s["totals"]["copies_done"] >= held and s["totals"]["under_replicated"] == 0, 120,
                         "re-replication of the dead node's blocks")
        took = time.monotonic() - started
    finally:
        victim.signal(signal.SIGCONT)
    print(f"{held} small blocks copied again in {took:.1f} s")
    assert cluster.status()["totals"]["copies_done"] == held, "each block copied once, never twice"
    cluster.wait_for(lambda s: s["totals"]["alive"] == 4, 30, "the node to return")
    settle(cluster, files, live=4, timeout=120)
    assert requests.get(cluster.url + "/cluster", timeout=10).json()["totals"]["copies_done"] == held
