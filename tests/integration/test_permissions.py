"""Permissions enforced by a real namenode over WebHDFS: two users (alice, bob) and the superuser (hdfs), the
sticky bit, traversal, recursive deletes, chmod and chown, the audit trail and the status page's denials."""

import os

import pytest
import requests

from cluster import Cluster

SUPERUSER = "hdfs"
GROUPS = "alice: alice staff\nbob: bob staff\ncarol: carol\nhdfs: supergroup\n"
DENIED = "org.apache.hadoop.security.AccessControlException"


@pytest.fixture(scope="module")
def checked(tmp_path_factory):
    """A namenode checking permissions, with ``hdfs`` as its superuser and groups from a file."""
    root = tmp_path_factory.mktemp("permissions")
    groups = root / "groups"
    groups.write_text(GROUPS)
    cluster = Cluster(root / "cluster", datanodes=1, namenode_args=[
        "--replication", "1", "--min-replicas", "1", "--superuser", SUPERUSER, "--groups-file", str(groups),
        "--audit-log", str(root / "audit.log")]).start()
    cluster.audit_log = str(root / "audit.log")
    as_user(cluster, SUPERUSER, "PUT", "/home", "MKDIRS")
    as_user(cluster, SUPERUSER, "PUT", "/home/alice", "MKDIRS", permission="700")
    as_user(cluster, SUPERUSER, "PUT", "/home/alice", "SETOWNER", owner="alice", group="alice")
    as_user(cluster, SUPERUSER, "PUT", "/tmp", "MKDIRS", permission="1777")
    as_user(cluster, SUPERUSER, "PUT", "/tmp", "SETPERMISSION", permission="1777")
    yield cluster
    cluster.stop()


def as_user(cluster, user, method, path, op, data=None, **params):
    """One WebHDFS call as ``user`` (None: naming no user), following the namenode's redirects."""
    if user is not None:
        params["user.name"] = user
    response = requests.request(method, f"{cluster.url}/webhdfs/v1{path}", params={"op": op, **params},
                                allow_redirects=False, timeout=30)
    if response.status_code == 307:
        response = requests.request(method, response.headers["Location"], data=data, timeout=30,
                                    headers={"Content-Type": "application/octet-stream"})
    return response


def write(cluster, user, path, data=b"secret", **params):
    response = as_user(cluster, user, "PUT", path, "CREATE", data=data, **params)
    assert response.status_code == 201, response.text
    return response


def denial(response):
    """The message of a 403 AccessControlException (failing the test on anything else)."""
    assert response.status_code == 403, (response.status_code, response.text)
    exception = response.json()["RemoteException"]
    assert (exception["exception"], exception["javaClassName"]) == ("AccessControlException", DENIED)
    return exception["message"]


def test_bob_cannot_read_alices_private_file(checked):
    write(checked, "alice", "/home/alice/diary", permission="600")
    assert as_user(checked, "alice", "GET", "/home/alice/diary", "OPEN").content == b"secret"
    assert denial(as_user(checked, "bob", "GET", "/home/alice/diary", "OPEN")) == (
        'Permission denied: user=bob, access=EXECUTE, inode="/home/alice":alice:alice:drwx------')
