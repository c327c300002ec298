"""Snapshots and history with real processes on both backends: GC running with a short grace never takes a block a
snapshot or the history window references; a snapshot's bytes read back right after its files were deleted and
overwritten, and deleting it lets GC free what only it held; `dfs restore --at` brings back a deleted tree as it
was; the `dfs snapshot` commands."""

import datetime
import hashlib
import json
import os
import time

import pytest
import requests
from test_cli import fails, ok
from test_webhdfs import op, put_file, read


@pytest.fixture(params=["sqlite", "postgres"])
def start(request):
    """Starts a cluster of one datanode, GC grace 1 s, keeping ``retention`` of history, on each backend."""
    # The database first: fixtures end in reverse order, so it is dropped after the namenode using it has stopped.
    database = ["--db-url", request.getfixturevalue("postgres_url")] if request.param == "postgres" else []
    make_cluster = request.getfixturevalue("make_cluster")

    def start(retention):
        args = ["--replication", "1", "--min-replicas", "1", "--gc-grace", "1", "--history-retention", retention]
        return make_cluster(datanodes=1, namenode_args=args + database)

    return start


@pytest.fixture
def cluster(start):
    """History off: only snapshots keep the past."""
    return start("0")


@pytest.fixture
def cluster_with_history(start):
    return start("1h")


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
    collect_garbage(cluster, deadline)  # GC ran after the snapshot's files went

    assert held <= set(cluster.block_files(0))
    assert read(cluster, "/d/.snapshot/s1/gone") == first
    assert read(cluster, "/d/.snapshot/s1/changed") == second
    assert read(cluster, "/d/changed") == newer
    assert op(cluster, "GET", "/d/.snapshot/s1/gone", "GETFILECHECKSUM").status_code == 200

    assert op(cluster, "DELETE", "/d", "DELETESNAPSHOT", snapshotname="s1").status_code == 200
    for block in held:
        wait_until_collected(cluster, block, deadline)
    assert read(cluster, "/d/changed") == newer


def environment(cluster, tmp_path):
    return dict(os.environ, DFS_NAMENODE_URL=cluster.url, DFS_CONFIG=str(tmp_path / "none.toml"), DFS_TOKEN="")


def collect_garbage(cluster, deadline):
    """Return once GC has run a pass from now: it collected a block stored now that nothing refers to (with history
    on, a deleted file's block would stay, so the block is one whose commit a quota refused: never referenced)."""
    data = os.urandom(100)
    op(cluster, "PUT", "/gc-probe", "MKDIRS")
    assert op(cluster, "PUT", "/gc-probe", "SETQUOTA", storagespacequota=1).status_code == 200
    response = requests.put(f"{cluster.url}/webhdfs/v1/gc-probe/f", params={"op": "CREATE", "data": "true"},
                            data=iter([data]), headers={"Content-Type": "application/octet-stream"})
    assert response.status_code == 403, response.text  # chunked: stored, then refused at the commit
    probe = hashlib.sha256(data).hexdigest()
    assert probe in cluster.block_files(0)
    wait_until_collected(cluster, probe, deadline)


def test_restore_brings_back_a_deleted_tree_as_it_was_after_gc(cluster_with_history, tmp_path):
    cluster, env = cluster_with_history, environment(cluster_with_history, tmp_path)
    deadline = time.monotonic() + 120
    files = {f"/tree/sub{i % 3}/f{i:02d}": os.urandom(300 + i) for i in range(20)}
    for path, data in files.items():
        put_file(cluster, path, data)
    moment = int(time.time() * 1000) + 1  # after every commit so far (their times are finer than a millisecond)
    while int(time.time() * 1000) <= moment:  # the changes below are strictly after the moment
        assert time.monotonic() < deadline
    put_file(cluster, "/tree/sub0/f00", b"overwritten after the moment", overwrite="true")
    assert op(cluster, "DELETE", "/tree", "DELETE", recursive="true").json() == {"boolean": True}
    collect_garbage(cluster, deadline)

    iso = datetime.datetime.fromtimestamp(moment / 1000, datetime.timezone.utc).isoformat(timespec="milliseconds")
    assert json.loads(ok(env, "ls", "--json", "--at", iso, "/tree"))[0]["pathSuffix"] == "sub0"
    assert ok(env, "cat", "--at", str(moment), "/tree/sub1/f01") == files["/tree/sub1/f01"]
    ok(env, "get", "--at", str(moment), "-r", "/tree", str(tmp_path / "then"))
    assert (tmp_path / "then" / "sub0" / "f00").read_bytes() == files["/tree/sub0/f00"]
    ok(env, "restore", "/tree", "--at", str(moment))
    for path, data in files.items():
        assert read(cluster, path) == data, path
    assert op(cluster, "GET", "/tree", "GETCONTENTSUMMARY").json()["ContentSummary"]["fileCount"] == 20

    held = json.loads(ok(env, "df", "--json"))["held"]  # the overwriting bytes: in no file now, only in history
    assert held["history"] == len(b"overwritten after the moment") and held["snapshots"] == 0
    ok(env, "admin", "purge", "--before", "0 seconds ago", "--yes")
    assert json.loads(ok(env, "df", "--json"))["held"]["history"] == 0
    assert "purge" in fails(env, "ls", "--at", str(moment), "/tree")


def test_the_snapshot_commands(cluster, tmp_path):
    env = environment(cluster, tmp_path)
    put_file(cluster, "/d/a", b"first")
    ok(env, "snapshot", "allow", "/d")
    assert ok(env, "snapshot", "create", "/d", "s1") == b"/d/.snapshot/s1\n"
    put_file(cluster, "/d/b", b"second")
    ok(env, "rm", "--skip-trash", "/d/a")
    assert ok(env, "snapshot", "diff", "/d", "s1").decode().split("\n")[:3] == ["M  ./", "+  ./b", "-  ./a"]
    assert b"/d/.snapshot/s1" in ok(env, "snapshot", "list", "/d")
    assert ok(env, "cat", "/d/.snapshot/s1/a") == b"first"
    ok(env, "restore", "/d/.snapshot/s1/a", "--to", "/d/a")
    assert read(cluster, "/d/a") == b"first"
    ok(env, "snapshot", "rename", "/d", "s1", "s2")
    ok(env, "snapshot", "delete", "/d", "s2")
    assert ok(env, "snapshot", "list") == b"SNAPSHOTS  DIRECTORY\n0          /d\n"
