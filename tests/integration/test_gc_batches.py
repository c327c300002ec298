"""GC of a big deleted tree with real processes: every replica leaves the disks within the grace plus a minute, in a
few batched requests per datanode, and no other file's block is touched."""

import hashlib
import re
import time
from concurrent.futures import ThreadPoolExecutor

import requests
from test_webhdfs import op, put_file, read

GRACE = 2
FILES = 2000
DELETE_REQUESTS = re.compile(r'^dfs_http_requests_total\{[^}]*op="delete_blocks?"[^}]*\} (\S+)$', re.MULTILINE)


def _block(data):
    return hashlib.sha256(data).hexdigest()


def _delete_requests(node):
    """How many block deletes (single or batched) the datanode answered, from its /metrics."""
    return sum(float(n) for n in DELETE_REQUESTS.findall(requests.get(node.url + "/metrics", timeout=10).text))


def test_a_deleted_tree_of_2000_files_leaves_every_disk_within_the_grace_and_a_minute(make_cluster):
    cluster = make_cluster(namenode_args=["--gc-grace", str(GRACE)], datanode_args=["--gc-grace", str(GRACE)])
    tree = {f"/tree/d{i % 20}/f{i}": f"file {i}".encode() for i in range(FILES)}
    kept = {f"/kept/f{i}": f"kept {i}".encode() for i in range(5)}
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda item: put_file(cluster, *item), [*tree.items(), *kept.items()]))
    doomed = {_block(data) for data in tree.values()}
    kept_blocks = {_block(data) for data in kept.values()}
    on_disk = [cluster.block_files(i) for i in range(len(cluster.datanodes))]
    assert all(doomed | kept_blocks <= held.keys() for held in on_disk)  # three replicas each
    before = [_delete_requests(node) for node in cluster.datanodes]

    assert op(cluster, "DELETE", "/tree", "DELETE", recursive="true").json() == {"boolean": True}
    deadline = time.monotonic() + GRACE + 60
    left = doomed
    while time.monotonic() < deadline:
        left = {b for i in range(len(cluster.datanodes)) for b in doomed & cluster.block_files(i).keys()}
        if not left:
            break
        time.sleep(0.5)
    assert not left, f"{len(left)} blocks of the deleted tree still on disk {GRACE + 60} s after the delete"

    for i, node in enumerate(cluster.datanodes):
        held = cluster.block_files(i)
        assert kept_blocks <= held.keys()
        assert set(held) - doomed == set(on_disk[i]) - doomed  # nothing but the tree's blocks went
        assert _delete_requests(node) - before[i] <= 10  # 2,000 ids in a few batches, not one request each
    assert all(read(cluster, path) == data for path, data in kept.items())
