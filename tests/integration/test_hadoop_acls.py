"""Hadoop's FsShell -setfacl/-getfacl (and -ls's "+"), and -count -t of the quota by storage type, against a real
cluster through Hadoop's own WebHDFS client. Needs Java and DFS_HADOOP_JARS, as test_hadoop_client says."""

import pytest
import requests

from test_hadoop_client import fs_shell, pytestmark  # noqa: F401 (pytestmark: the same skip rule)


def _put(cluster, path, data=b"x"):
    r = requests.put(f"{cluster.url}/webhdfs/v1{path}", params={"op": "CREATE", "data": "true", "permission": "640"},
                     data=data, headers={"Content-Type": "application/octet-stream"}, timeout=60)
    assert r.status_code == 201, r.text


def _acl(cluster, tmp_path, path):
    """-getfacl's ACL lines (without the # header lines)."""
    out = fs_shell(cluster, tmp_path, "-getfacl", f"webhdfs:{path}").decode().splitlines()
    return [line for line in out if line and not line.startswith("#")]


def test_setfacl_and_getfacl(cluster, unique_dir, tmp_path):
    _put(cluster, unique_dir + "/d/f")
    fs_shell(cluster, tmp_path, "-setfacl", "-m", "user:bob:rw-,group:eng:r--", f"webhdfs:{unique_dir}/d/f")
    assert _acl(cluster, tmp_path, unique_dir + "/d/f") == [
        "user::rw-", "user:bob:rw-", "group::r--", "group:eng:r--", "mask::rw-", "other::---"]
    listed = fs_shell(cluster, tmp_path, "-ls", f"webhdfs:{unique_dir}/d").decode().splitlines()
    assert listed[-1].split()[0] == "-rw-rw----+"
    fs_shell(cluster, tmp_path, "-setfacl", "-x", "group:eng", f"webhdfs:{unique_dir}/d/f")
    fs_shell(cluster, tmp_path, "-setfacl", "-m", "mask::r--", f"webhdfs:{unique_dir}/d/f")
    assert _acl(cluster, tmp_path, unique_dir + "/d/f") == [
        "user::rw-", "user:bob:rw-\t#effective:r--", "group::r--", "mask::r--", "other::---"]
    fs_shell(cluster, tmp_path, "-setfacl", "-b", f"webhdfs:{unique_dir}/d/f")
    assert _acl(cluster, tmp_path, unique_dir + "/d/f") == ["user::rw-", "group::r--", "other::---"]


def test_default_acls_recursion_and_refusals(cluster, unique_dir, tmp_path):
    _put(cluster, unique_dir + "/d/old")
    fs_shell(cluster, tmp_path, "-setfacl", "--set", "user::rwx,group::r-x,other::---,default:user:bob:rwx",
             f"webhdfs:{unique_dir}/d")
    fs_shell(cluster, tmp_path, "-mkdir", f"webhdfs:{unique_dir}/d/new")  # umask 022, mode 777 before it
    new = _acl(cluster, tmp_path, unique_dir + "/d/new")
    assert new[:5] == ["user::rwx", "user:bob:rwx", "group::r-x", "mask::rwx", "other::---"]
    assert "default:user:bob:rwx" in new
    fs_shell(cluster, tmp_path, "-setfacl", "-k", f"webhdfs:{unique_dir}/d")
    assert _acl(cluster, tmp_path, unique_dir + "/d") == ["user::rwx", "group::r-x", "other::---"]
    fs_shell(cluster, tmp_path, "-setfacl", "-R", "-m", "user:carol:r-x", f"webhdfs:{unique_dir}/d")
    assert "user:carol:r-x" in _acl(cluster, tmp_path, unique_dir + "/d/old")
    with pytest.raises(AssertionError, match="only directories may have a default ACL"):
        fs_shell(cluster, tmp_path, "-setfacl", "-m", "default:user:bob:r--", f"webhdfs:{unique_dir}/d/old")
    with pytest.raises(AssertionError, match="the user, group and other entries are required"):
        fs_shell(cluster, tmp_path, "-setfacl", "--set", "user::rwx", f"webhdfs:{unique_dir}/d/old")


def test_count_shows_the_quota_by_storage_type_disk(cluster, unique_dir, tmp_path):
    """-count -q -t DISK reads GETQUOTAUSAGE's typeQuota, which SETQUOTABYSTORAGETYPE sets."""
    _put(cluster, unique_dir + "/q/f", b"x" * 1000)
    r = requests.put(f"{cluster.url}/webhdfs/v1{unique_dir}/q", timeout=60,
                     params={"op": "SETQUOTABYSTORAGETYPE", "storagetype": "DISK", "storagespacequota": 1 << 20})
    assert r.status_code == 200, r.text
    replication = requests.get(f"{cluster.url}/webhdfs/v1{unique_dir}/q/f", params={"op": "GETFILESTATUS"},
                               timeout=60).json()["FileStatus"]["replication"]
    line = fs_shell(cluster, tmp_path, "-count", "-q", "-t", "DISK", f"webhdfs:{unique_dir}/q").decode().split()
    assert line[:2] == [str(1 << 20), str((1 << 20) - 1000 * replication)]
