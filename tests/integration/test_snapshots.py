"""Snapshots with real processes on both backends: GC running with a short grace never takes a block a snapshot
references, the snapshot's bytes read back right after its files were deleted and overwritten, and deleting the
snapshot lets GC free what only it held."""

import os
import time

import pytest
from test_webhdfs import op, put_file, read


@pytest.fixture(params=["sqlite", "postgres"])
def cluster(request, make_cluster):
    args = ["--replication", "1", "--min-replicas", "1", "--gc-grace", "1"]
    if request.param == "postgres":
        args += ["--db-url", request.getfixturevalue("postgres_url")]
    return make_cluster(datanodes=1, namenode_args=args)


def block_of(cluster, path):
    [location] = op(cluster, "GET", path, "GETFILEBLOCKLOCATIONS").json()["BlockLocations"]["BlockLocation"]
    return location["blockId"]


def wait_until_collected(cluster, block, deadline):
    while block in cluster.block_files(0):
        assert time.monotonic() < deadline, f"GC never collected {block}"
        time.sleep(0.2)


def test_gc_keeps_what_a_snapshot_references_and_frees_it_with_the_snapshot(cluster):
    deadline = time.monotonic() + 120
    first, second, newer = os.urandom(5000), os.urandom(6000), os.urandom(700)
    put_file(cluster, "/d/gone", first)
    put_file(cluster, "/d/changed", second)
    held = {block_of(cluster, "/d/gone"), block_of(cluster, "/d/changed")}
    assert op(cluster, "PUT", "/d", "ALLOWSNAPSHOT").status_code == 200
    assert op(cluster, "PUT", "/d", "CREATESNAPSHOT", snapshotname="s1").json() == {"Path": "/d/.snapshot/s1"}
    assert op(cluster, "DELETE", "/d/gone", "DELETE").json() == {"boolean": True}
    put_file(cluster, "/d/changed", newer, overwrite="true")
    put_file(cluster, "/control", os.urandom(100))
    control = block_of(cluster, "/control")
    op(cluster, "DELETE", "/control", "DELETE")
    wait_until_collected(cluster, control, deadline)  # GC ran after the snapshot's files went

    assert held <= set(cluster.block_files(0))
    assert read(cluster, "/d/.snapshot/s1/gone") == first
    assert read(cluster, "/d/.snapshot/s1/changed") == second
    assert read(cluster, "/d/changed") == newer
    assert op(cluster, "GET", "/d/.snapshot/s1/gone", "GETFILECHECKSUM").status_code == 200

    assert op(cluster, "DELETE", "/d", "DELETESNAPSHOT", snapshotname="s1").status_code == 200
    for block in held:
        wait_until_collected(cluster, block, deadline)
    assert read(cluster, "/d/changed") == newer
