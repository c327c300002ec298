"""How many requests the mount makes of the namenode for small-file work in the default mode (issue 24), and that
what it answers without asking is what asking would have given."""

import os
import re
import subprocess
import time

import pytest
import requests
from test_mount import OTHER_MOUNT_DELAY, mount, work  # noqa: F401 (fixtures)

ENTRIES = 300


def requests_since(cluster, seen, path):
    """(path below ``path``, operation) of each WebHDFS request the namenode logged after ``seen`` characters."""
    return re.findall(rf"/webhdfs/v1({re.escape(path)}\S*) (\w+) \d{{3}} ", cluster.namenode.log()[seen:])


def shown(path):
    """What stat(2) shows of ``path``, every field the mount fills in."""
    st = os.stat(path)
    return {name: getattr(st, name) for name in ("st_mode", "st_ino", "st_nlink", "st_uid", "st_gid", "st_size",
                                                 "st_blocks", "st_atime_ns", "st_mtime_ns", "st_ctime_ns")}


def test_a_stat_right_after_close_asks_nothing_and_shows_what_the_namenode_would(work, cluster, unique_dir):
    """tar, git and cp stat a file right after closing it: the upload's answer describes the file, so the mount
    answers without a GETFILESTATUS, and with exactly what a fresh one gives once the caches have expired."""
    path = work + "/f"
    seen = len(cluster.namenode.log())
    with open(path, "wb") as f:
        f.write(b"hello")
        os.fchmod(f.fileno(), 0o640)
        os.utime(f.fileno(), ns=(1_400_000_000_123_000_000, 1_500_000_000_456_000_000))
    created = shown(path)
    asked = [op for _, op in requests_since(cluster, seen, unique_dir + "/f")]
    assert "GETFILESTATUS" not in asked and asked.count("CREATE") == 1, asked
    time.sleep(OTHER_MOUNT_DELAY)  # past the kernel's and the mount's timeouts: the next stat asks
    seen = len(cluster.namenode.log())
    assert shown(path) == created
    assert "GETFILESTATUS" in [op for _, op in requests_since(cluster, seen, unique_dir + "/f")]

    with open(path, "r+b") as f:  # a file that was on the cluster already: replaced by its upload
        f.write(b"HELLO, again")
    seen = len(cluster.namenode.log())
    rewritten = shown(path)
    assert requests_since(cluster, seen, unique_dir + "/f") == []
    assert rewritten["st_size"] == 12 and rewritten["st_ino"] == created["st_ino"]
    time.sleep(OTHER_MOUNT_DELAY)
    assert shown(path) == rewritten


def test_rm_rf_asks_little_more_than_one_delete_per_entry(work, cluster, unique_dir):
    """rm -rf of a tree made earlier (nothing of it cached): the kernel looks up each name before its unlink; the
    lookups are answered from the directory's listing, listed again while it is being walked, not one request
    each; a directory listed a moment ago is not listed again."""
    tree = work + "/tree"
    os.makedirs(tree + "/sub")
    for i in range(ENTRIES):
        with open(f"{tree}/{'sub/' if i % 10 == 0 else ''}f{i:04d}", "wb") as f:
            f.write(b"x")
    time.sleep(OTHER_MOUNT_DELAY)
    seen = len(cluster.namenode.log())
    started = time.monotonic()
    subprocess.run(["rm", "-rf", tree], check=True)
    seconds = time.monotonic() - started
    assert not os.path.exists(tree)
    ops = [op for _, op in requests_since(cluster, seen, unique_dir + "/tree")]
    assert ops.count("DELETE") == ENTRIES + 2
    # Beside the deletes: a few per directory, and per second (the attributes' timeout) a listing of each
    # directory being walked, or at most caches.WALKED lookups alone in a directory walked slower than that.
    assert len(ops) - ops.count("DELETE") <= 10 + 8 * (seconds + 1), ({op: ops.count(op) for op in set(ops)},
                                                                        seconds)


def test_rmdir_is_one_request(work, cluster, unique_dir):
    """rmdir sends one DELETE that the namenode refuses for a file (it asked for the directory's status first)."""
    os.mkdir(work + "/gone")
    os.stat(work + "/gone")  # the kernel's lookup, answered now: what follows is rmdir's own
    seen = len(cluster.namenode.log())
    os.rmdir(work + "/gone")
    assert [op for _, op in requests_since(cluster, seen, unique_dir + "/gone")] == ["DELETE"]
    assert not os.path.exists(work + "/gone")


def test_rmdir_of_a_directory_another_client_replaced_with_a_file_keeps_the_file(work, cluster, unique_dir):
    """The kernel may still hold a name as a directory (its entry timeout) that another client has replaced with a
    file: rmdir then fails with ENOTDIR and the file stays (the namenode checks the type where it deletes)."""
    os.mkdir(work + "/d")
    os.stat(work + "/d")
    url = f"{cluster.url}/webhdfs/v1{unique_dir}/d"
    assert requests.delete(url, params={"op": "DELETE"}, timeout=30).json() == {"boolean": True}
    assert requests.put(url, params={"op": "CREATE", "data": "true"}, data=b"kept", timeout=30).status_code == 201
    with pytest.raises(NotADirectoryError):
        os.rmdir(work + "/d")
    assert requests.get(url, params={"op": "GETFILESTATUS"}, timeout=30).json()["FileStatus"]["length"] == 4


def test_a_listing_served_from_the_cache_shows_this_mounts_changes_at_once(work):
    os.mkdir(work + "/d")
    for name in ("a", "b"):
        with open(f"{work}/d/{name}", "wb"):
            pass
    assert os.listdir(work + "/d") == ["a", "b"]
    assert os.listdir(work + "/d") == ["a", "b"]
    with open(work + "/d/c", "wb") as f:
        f.write(b"c")
        assert sorted(os.listdir(work + "/d")) == ["a", "b", "c"], "a file not yet uploaded"
    os.unlink(work + "/d/a")
    os.mkdir(work + "/d/e")
    os.rename(work + "/d/b", work + "/d/e/b")
    assert os.listdir(work + "/d") == ["c", "e"]
    assert os.listdir(work + "/d/e") == ["b"]
    subprocess.run(["rm", "-rf", work + "/d/e"], check=True)
    assert os.listdir(work + "/d") == ["c"]
