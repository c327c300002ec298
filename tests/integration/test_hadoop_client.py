"""Hadoop's own WebHDFS client (FsShell, as `hdfs dfs`) reads exactly what it asks for: -tail seeks through the
reused datanode URL. Needs Java and Hadoop's client jars: DFS_HADOOP_JARS=<dir> (pyspark==4.1.4 ships them in
pyspark/jars), which .ci/run provides; skipped otherwise, except in CI (CI=true), where their absence fails."""

import getpass
import os
import shutil
import subprocess

import pytest
import requests

JARS = os.environ.get("DFS_HADOOP_JARS", "")
pytestmark = pytest.mark.skipif(not (JARS and os.path.isdir(JARS) and shutil.which("java")) and not os.environ.get("CI"),
                                reason="needs java and DFS_HADOOP_JARS (Hadoop 3.4 client jars)")


# The namenode's user, its superuser: the files these tests set up belong to the default owner, and setting a
# quota is the superuser's (the permission matrix tests the checks themselves).
HADOOP_USER = getpass.getuser()


def fs_shell(cluster, tmp_path, *args):
    (tmp_path / "core-site.xml").write_text("<configuration/>")
    base = "webhdfs://" + cluster.url.split("://", 1)[1]
    command = ["java", "-cp", f"{tmp_path}:{JARS}/*", "org.apache.hadoop.fs.FsShell",
               *[arg.replace("webhdfs:", base, 1) if arg.startswith("webhdfs:") else arg for arg in args]]
    done = subprocess.run(command, capture_output=True, timeout=300, env=dict(os.environ, HADOOP_USER_NAME=HADOOP_USER))
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.parametrize("block_size", [None, 1 << 20])
def test_tail_and_cat(cluster, unique_dir, tmp_path, block_size):
    data = os.urandom(5_000_000)
    params = {"op": "CREATE", "data": "true", **({"blocksize": block_size} if block_size else {})}
    r = requests.put(f"{cluster.url}/webhdfs/v1{unique_dir}/f", params=params, data=data,
                     headers={"Content-Type": "application/octet-stream"}, timeout=60)
    assert r.status_code == 201, r.text
    assert fs_shell(cluster, tmp_path, "-tail", f"webhdfs:{unique_dir}/f") == data[-1024:]
    assert fs_shell(cluster, tmp_path, "-cat", f"webhdfs:{unique_dir}/f") == data


def test_df_count_checksum_and_rm(cluster, unique_dir, tmp_path):
    """-df (GETSTATUS), -count -q -u (GETQUOTAUSAGE), -checksum (Hadoop's MD5-of-MD5-of-CRC32C) and a plain -rm,
    which asks GETSERVERDEFAULTS whether the server keeps trash before it deletes."""
    data = os.urandom(5000)
    r = requests.put(f"{cluster.url}/webhdfs/v1{unique_dir}/f", params={"op": "CREATE", "data": "true",
                     "blocksize": 2048}, data=data, headers={"Content-Type": "application/octet-stream"}, timeout=60)
    assert r.status_code == 201, r.text
    df = fs_shell(cluster, tmp_path, "-df", "webhdfs:/").decode().splitlines()
    assert df[0].split()[:2] == ["Filesystem", "Size"] and int(df[1].split()[1]) > 0
    count = fs_shell(cluster, tmp_path, "-count", "-q", "-u", f"webhdfs:{unique_dir}").decode().split()
    assert count[:4] == ["none", "inf", "none", "inf"]
    checksum = requests.get(f"{cluster.url}/webhdfs/v1{unique_dir}/f", params={"op": "GETFILECHECKSUM"},
                            timeout=60).json()["FileChecksum"]
    line = fs_shell(cluster, tmp_path, "-checksum", f"webhdfs:{unique_dir}/f").decode().split()
    assert line[1:] == ["MD5-of-4MD5-of-512CRC32C", checksum["bytes"]]
    fs_shell(cluster, tmp_path, "-rm", f"webhdfs:{unique_dir}/f")
    assert requests.get(f"{cluster.url}/webhdfs/v1{unique_dir}/f", params={"op": "GETFILESTATUS"},
                        timeout=60).status_code == 404


def test_recursive_commands_page_through_liststatus_batch(make_cluster, tmp_path):
    """-ls -R, -du and -find list directories with LISTSTATUS_BATCH only (no fallback to LISTSTATUS); pages of two
    entries make every directory take several."""
    cluster = make_cluster(datanodes=1, namenode_args=("--list-limit", "2", "--replication", "1",
                                                       "--min-replicas", "1"))
    for path in ("/t/a", "/t/b", "/t/c", "/t/sub/d", "/t/sub/e", "/t/sub/f"):
        r = requests.put(f"{cluster.url}/webhdfs/v1{path}", params={"op": "CREATE", "data": "true"},
                         data=b"12345", headers={"Content-Type": "application/octet-stream"}, timeout=60)
        assert r.status_code == 201, r.text
    listed = fs_shell(cluster, tmp_path, "-ls", "-R", "webhdfs:/t").decode().splitlines()
    assert [line.split()[-1].split("/t", 1)[1] for line in listed] == \
        ["/a", "/b", "/c", "/sub", "/sub/d", "/sub/e", "/sub/f"]
    du = fs_shell(cluster, tmp_path, "-du", "-s", "webhdfs:/t").decode().split()
    assert du[:2] == ["30", "30"]
    found = fs_shell(cluster, tmp_path, "-find", "webhdfs:/t", "-name", "e").decode().split()
    assert [f.split("/t", 1)[1] for f in found] == ["/sub/e"]


def test_setfattr_and_getfattr(cluster, unique_dir, tmp_path):
    """-setfattr/-getfattr (SETXATTR with Hadoop's hex values, GETXATTRS and LISTXATTRS) and -setfattr -x."""
    r = requests.put(f"{cluster.url}/webhdfs/v1{unique_dir}/f", params={"op": "CREATE", "data": "true"}, data=b"x",
                     headers={"Content-Type": "application/octet-stream"}, timeout=60)
    assert r.status_code == 201, r.text
    fs_shell(cluster, tmp_path, "-setfattr", "-n", "user.color", "-v", "blue", f"webhdfs:{unique_dir}/f")
    fs_shell(cluster, tmp_path, "-setfattr", "-n", "user.raw", "-v", "0x00ff", f"webhdfs:{unique_dir}/f")
    dumped = fs_shell(cluster, tmp_path, "-getfattr", "-d", "-e", "hex", f"webhdfs:{unique_dir}/f").decode()
    assert dumped.splitlines()[1:] == ["user.color=0x626c7565", "user.raw=0x00ff"]
    one = fs_shell(cluster, tmp_path, "-getfattr", "-n", "user.color", f"webhdfs:{unique_dir}/f").decode()
    assert one.splitlines()[1:] == ['user.color="blue"']
    fs_shell(cluster, tmp_path, "-setfattr", "-x", "user.color", f"webhdfs:{unique_dir}/f")
    r = requests.get(f"{cluster.url}/webhdfs/v1{unique_dir}/f", params={"op": "LISTXATTRS"}, timeout=60)
    assert r.json() == {"XAttrNames": '["user.raw"]'}


def test_count_q_shows_quotas_and_chmod_r(cluster, unique_dir, tmp_path):
    """-count -q reads the quotas SETQUOTA set (GETCONTENTSUMMARY); -chmod -R walks with LISTSTATUS_BATCH."""
    for name in ("a", "sub/b"):
        r = requests.put(f"{cluster.url}/webhdfs/v1{unique_dir}/{name}", params={"op": "CREATE", "data": "true",
                         "replication": 1}, data=b"12345", headers={"Content-Type": "application/octet-stream"},
                         timeout=60)
        assert r.status_code == 201, r.text
    r = requests.put(f"{cluster.url}/webhdfs/v1{unique_dir}", params={"op": "SETQUOTA", "namespacequota": 10,
                     "storagespacequota": 1000}, timeout=60)
    assert r.status_code == 200, r.text
    count = fs_shell(cluster, tmp_path, "-count", "-q", f"webhdfs:{unique_dir}").decode().split()
    assert count[:7] == ["10", "6", "1000", "990", "2", "2", "10"]
    fs_shell(cluster, tmp_path, "-chmod", "-R", "700", f"webhdfs:{unique_dir}")
    r = requests.get(f"{cluster.url}/webhdfs/v1{unique_dir}/sub/b", params={"op": "GETFILESTATUS"}, timeout=60)
    assert r.json()["FileStatus"]["permission"] == "700"


def test_snapshots_through_hadoops_client(cluster, unique_dir, tmp_path):
    """-createSnapshot, -renameSnapshot, -deleteSnapshot and reads under .snapshot through FsShell (Hadoop's
    snapshotDiff and lsSnapshottableDir are not in its client jars)."""
    r = requests.put(f"{cluster.url}/webhdfs/v1{unique_dir}/f", params={"op": "CREATE", "data": "true"},
                     data=b"before", headers={"Content-Type": "application/octet-stream"}, timeout=60)
    assert r.status_code == 201, r.text
    assert requests.put(f"{cluster.url}/webhdfs/v1{unique_dir}", params={"op": "ALLOWSNAPSHOT"}).status_code == 200
    created = fs_shell(cluster, tmp_path, "-createSnapshot", f"webhdfs:{unique_dir}", "s1").decode()
    assert f"{unique_dir}/.snapshot/s1" in created
    requests.delete(f"{cluster.url}/webhdfs/v1{unique_dir}/f", params={"op": "DELETE"})
    assert fs_shell(cluster, tmp_path, "-cat", f"webhdfs:{unique_dir}/.snapshot/s1/f") == b"before"
    assert f"{unique_dir}/.snapshot/s1/f" in fs_shell(cluster, tmp_path, "-ls", f"webhdfs:{unique_dir}/.snapshot/s1").decode()
    fs_shell(cluster, tmp_path, "-renameSnapshot", f"webhdfs:{unique_dir}", "s1", "s2")
    fs_shell(cluster, tmp_path, "-deleteSnapshot", f"webhdfs:{unique_dir}", "s2")
    assert requests.get(f"{cluster.url}/webhdfs/v1{unique_dir}", params={"op": "GETSNAPSHOTLIST"}).json() == {
        "SnapshotList": []}
