"""Proxy users on a real namenode (WebHDFS ``doas=``): who may act for whom, on an open cluster (``user.name``) and
with tokens; the effective user's rights, the audit line naming both users, and the mount's ``doas.groups``."""

import pytest
import requests

from cluster import Cluster, wait_for_lines
from dfs.security import mint_token, new_secret
from test_permission_matrix import as_user, denial, write

SUPERUSER = "hdfs"
GROUPS = "alice: alice staff\nbob: bob staff\ngate: gate\nmount: mount\nhdfs: supergroup\n"
PROXY_USERS = "gate: users=bob groups=staff hosts=127.0.0.1\nmount: users=*\nfar: users=* hosts=10.0.0.0/8\n"
REFUSED = "org.apache.hadoop.security.authorize.AuthorizationException"


def build(root, *extra, datanode_args=(), token=None):
    (root / "groups").write_text(GROUPS)
    (root / "proxy").write_text(PROXY_USERS)
    cluster = Cluster(root / "cluster", datanodes=1, namenode_args=[
        "--replication", "1", "--min-replicas", "1", "--superuser", SUPERUSER, "--groups-file", str(root / "groups"),
        "--proxy-users", str(root / "proxy"), "--audit-log", str(root / "audit.log"), *extra],
        datanode_args=datanode_args, token=token).start()
    cluster.audit_log = str(root / "audit.log")
    return cluster


@pytest.fixture(scope="module")
def proxied(tmp_path_factory):
    cluster = build(tmp_path_factory.mktemp("proxy"))
    as_user(cluster, SUPERUSER, "PUT", "/home", "MKDIRS")
    as_user(cluster, SUPERUSER, "PUT", "/home/bob", "MKDIRS", permission="700")
    as_user(cluster, SUPERUSER, "PUT", "/home/bob", "SETOWNER", owner="bob", group="bob")
    yield cluster
    cluster.stop()


def refusal(response):
    assert response.status_code == 403, (response.status_code, response.text)
    exception = response.json()["RemoteException"]
    assert (exception["exception"], exception["javaClassName"]) == ("AuthorizationException", REFUSED)
    return exception["message"]


def test_an_allowed_proxy_acts_as_the_user(proxied):
    write(proxied, "gate", "/home/bob/via-gate", permission="600", doas="bob")
    status = as_user(proxied, "bob", "GET", "/home/bob/via-gate", "GETFILESTATUS").json()["FileStatus"]
    assert (status["owner"], status["group"]) == ("bob", "bob")
    assert as_user(proxied, "gate", "GET", "/home/bob/via-gate", "OPEN", doas="bob").content == b"secret"
    # gate itself may not: the rights are bob's only while acting for him.
    assert "user=gate" in denial(as_user(proxied, "gate", "GET", "/home/bob/via-gate", "OPEN"))


def test_a_proxy_acts_only_for_whom_it_is_allowed(proxied):
    assert refusal(as_user(proxied, "gate", "GET", "/home/bob", "LISTSTATUS", doas="hdfs")) == (
        "User: gate is not allowed to impersonate hdfs")
    assert refusal(as_user(proxied, "alice", "GET", "/", "LISTSTATUS", doas="bob")) == (
        "User: alice is not allowed to impersonate bob")
    assert refusal(as_user(proxied, "far", "GET", "/", "LISTSTATUS", doas="bob")) == (
        "Unauthorized connection for super-user: far from IP 127.0.0.1")
    # A group the proxy may act for: alice is in staff.
    assert as_user(proxied, "gate", "GET", "/", "LISTSTATUS", doas="alice").status_code == 200


def test_the_effective_users_rights_bound_a_signed_read(proxied):
    write(proxied, "bob", "/home/bob/only-bob", permission="600")
    # alice through the mount's account may not read bob's file: no redirect to a datanode is signed for her.
    assert "user=alice" in denial(as_user(proxied, "mount", "GET", "/home/bob/only-bob", "OPEN", doas="alice"))


def test_the_audit_line_names_both_users(proxied):
    write(proxied, "gate", "/home/bob/audited", doas="bob")
    denial(as_user(proxied, "mount", "GET", "/home/bob/audited", "LISTSTATUS", doas="alice"))
    wait_for_lines(proxied.audit_log, [
        "allowed=true\tugi=bob (auth:PROXY) via gate (auth:SIMPLE)\tip=/127.0.0.1\tcmd=create\tsrc=/home/bob/audited"
        "\tdst=null\tperm=bob:bob:rw-r--r--\tproto=webhdfs\n",
        "allowed=false\tugi=alice (auth:PROXY) via mount (auth:SIMPLE)\tip=/127.0.0.1\tcmd=listStatus"
        "\tsrc=/home/bob/audited\tdst=null\tperm=null\tproto=webhdfs\n"])


def test_asserted_groups_count_only_from_a_proxy_for_everyone(proxied):
    """The mount's extension: ``doas.groups`` are the caller's groups (the primary one is a new entry's group),
    honoured from ``mount`` (users=*), ignored from ``gate`` (who could otherwise make bob a superuser)."""
    as_user(proxied, SUPERUSER, "PUT", "/shared", "MKDIRS", permission="770")
    as_user(proxied, SUPERUSER, "PUT", "/shared", "SETOWNER", group="1234")
    assert as_user(proxied, "mount", "GET", "/shared", "LISTSTATUS", doas="carol",
                   **{"doas.groups": "carol,1234"}).status_code == 200
    write(proxied, "mount", "/shared/carols", doas="carol", **{"doas.groups": "5000,1234"})
    status = as_user(proxied, SUPERUSER, "GET", "/shared/carols", "GETFILESTATUS").json()["FileStatus"]
    assert (status["owner"], status["group"]) == ("carol", "5000")
    assert "user=bob" in denial(as_user(proxied, "gate", "GET", "/shared", "LISTSTATUS", doas="bob",
                                        **{"doas.groups": "supergroup"}))


def test_a_token_is_the_real_user(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text(new_secret())
    key = secret.read_text()
    cluster = build(tmp_path, "--secret-file", str(secret), datanode_args=["--secret-file", str(secret)],
                    token=mint_token(key, SUPERUSER, expires_in=3600))
    try:
        url = f"{cluster.url}/webhdfs/v1/"
        gate = {"Authorization": f"Bearer {mint_token(key, 'gate', expires_in=3600)}"}
        alice = {"Authorization": f"Bearer {mint_token(key, 'alice', expires_in=3600)}"}
        allowed = requests.get(url, params={"op": "LISTSTATUS", "doas": "bob"}, headers=gate, timeout=30)
        assert allowed.status_code == 200, allowed.text
        # user.name cannot stand in for the token's user.
        refused = requests.get(url, params={"op": "LISTSTATUS", "doas": "bob", "user.name": "gate"}, headers=alice,
                               timeout=30)
        assert refusal(refused) == "User: alice is not allowed to impersonate bob"
        wait_for_lines(cluster.audit_log, ["ugi=bob (auth:PROXY) via gate (auth:TOKEN)\tip=/127.0.0.1\tcmd=listStatus"
                                           "\tsrc=/\tdst=null\tperm=null\tproto=webhdfs\n"])
    finally:
        cluster.stop()


def test_home_and_trash_are_the_effective_users(proxied):
    assert as_user(proxied, "gate", "GET", "/", "GETHOMEDIRECTORY", doas="bob").json() == {"Path": "/user/bob"}
    assert as_user(proxied, "gate", "GET", "/", "GETTRASHROOT", doas="bob").json() == {"Path": "/user/bob/.Trash"}
