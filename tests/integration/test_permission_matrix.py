"""Permissions enforced by a real namenode over WebHDFS: two users (alice, bob) and the superuser (hdfs), the
sticky bit, traversal, recursive deletes, chmod and chown, the audit trail and the status page's denials."""

import os

import pytest
import requests

from cluster import Cluster, wait_for_lines

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


def test_bob_cannot_overwrite_delete_or_list_alices_files(checked):
    write(checked, "alice", "/home/alice/keep", permission="600")
    home = '"/home/alice":alice:alice:drwx------'
    assert denial(as_user(checked, "bob", "PUT", "/home/alice/keep", "CREATE", data=b"x", overwrite="true")) == (
        f"Permission denied: user=bob, access=EXECUTE, inode={home}")
    assert denial(as_user(checked, "bob", "DELETE", "/home/alice/keep", "DELETE")).endswith(home)
    assert denial(as_user(checked, "bob", "GET", "/home/alice", "LISTSTATUS")) == (
        f"Permission denied: user=bob, access=READ_EXECUTE, inode={home}")
    assert as_user(checked, "alice", "GET", "/home/alice/keep", "OPEN").content == b"secret"
    assert as_user(checked, SUPERUSER, "GET", "/home/alice/keep", "OPEN").content == b"secret"


def test_a_readable_home_still_protects_a_private_file(checked):
    """Traversal allowed (a 755 directory), the file's own bits refuse: READ on the file, WRITE to overwrite."""
    as_user(checked, SUPERUSER, "PUT", "/home/carol", "MKDIRS")
    as_user(checked, SUPERUSER, "PUT", "/home/carol", "SETOWNER", owner="carol", group="carol")
    write(checked, "carol", "/home/carol/notes", permission="600")
    inode = '"/home/carol/notes":carol:carol:-rw-------'
    assert denial(as_user(checked, "bob", "GET", "/home/carol/notes", "OPEN")) == (
        f"Permission denied: user=bob, access=READ, inode={inode}")
    assert denial(as_user(checked, "bob", "PUT", "/home/carol/notes", "CREATE", data=b"x", overwrite="true")) == (
        f"Permission denied: user=bob, access=WRITE, inode={inode}")
    assert denial(as_user(checked, "bob", "PUT", "/home/carol/new", "CREATE", data=b"x")) == (
        'Permission denied: user=bob, access=WRITE, inode="/home/carol":carol:carol:drwxr-xr-x')


def test_a_group_member_reads_what_the_group_may_read(checked):
    write(checked, "alice", "/tmp/report", permission="640")
    as_user(checked, "alice", "PUT", "/tmp/report", "SETOWNER", group="staff")
    assert as_user(checked, "bob", "GET", "/tmp/report", "OPEN").content == b"secret"
    assert denial(as_user(checked, "carol", "GET", "/tmp/report", "OPEN")) == (
        'Permission denied: user=carol, access=READ, inode="/tmp/report":alice:staff:-rw-r-----')


def test_a_new_entry_takes_its_parents_group(checked):
    as_user(checked, SUPERUSER, "PUT", "/team", "MKDIRS", permission="777")
    as_user(checked, SUPERUSER, "PUT", "/team", "SETOWNER", group="staff")
    write(checked, "alice", "/team/sub/plan")
    for path in ("/team/sub", "/team/sub/plan"):
        status = as_user(checked, "bob", "GET", path, "GETFILESTATUS").json()["FileStatus"]
        assert (status["owner"], status["group"]) == ("alice", "staff")


def test_the_sticky_bit_protects_alices_entry_in_tmp(checked):
    write(checked, "alice", "/tmp/alices", permission="666")
    write(checked, "bob", "/tmp/bobs")
    sticky = ('Permission denied by sticky bit: user=bob, path="/tmp/alices":alice:supergroup:-rw-rw-rw-,'
              ' parent="/tmp":hdfs:supergroup:drwxrwxrwt')
    assert denial(as_user(checked, "bob", "DELETE", "/tmp/alices", "DELETE")) == sticky
    assert denial(as_user(checked, "bob", "PUT", "/tmp/alices", "RENAME", destination="/tmp/mine")) == sticky
    # Writable by all, so bob may change its bytes, but not remove or rename it; his own entry he may.
    write(checked, "bob", "/tmp/alices", data=b"bob was here", overwrite="true")
    assert as_user(checked, "bob", "PUT", "/tmp/bobs", "RENAME", destination="/tmp/bobs2").json() == {"boolean": True}
    assert as_user(checked, "bob", "DELETE", "/tmp/bobs2", "DELETE").json() == {"boolean": True}
    assert as_user(checked, "alice", "DELETE", "/tmp/alices", "DELETE").json() == {"boolean": True}


def test_a_recursive_delete_is_refused_by_an_inner_directory(checked):
    as_user(checked, SUPERUSER, "PUT", "/proj", "MKDIRS", permission="777")
    write(checked, "alice", "/proj/tree/locked/f")
    as_user(checked, "alice", "PUT", "/proj/tree/locked", "SETPERMISSION", permission="555")
    assert denial(as_user(checked, "bob", "DELETE", "/proj/tree", "DELETE", recursive="true")) == (
        'Permission denied: user=bob, access=ALL, inode="/proj/tree":alice:supergroup:drwxr-xr-x')
    assert denial(as_user(checked, "alice", "DELETE", "/proj/tree", "DELETE", recursive="true")) == (
        'Permission denied: user=alice, access=ALL, inode="/proj/tree/locked":alice:supergroup:dr-xr-xr-x')
    assert as_user(checked, "alice", "GET", "/proj/tree/locked/f", "OPEN").content == b"secret"
    as_user(checked, "alice", "PUT", "/proj/tree/locked", "SETPERMISSION", permission="755")
    assert as_user(checked, "alice", "DELETE", "/proj/tree", "DELETE", recursive="true").json() == {"boolean": True}


def test_content_summary_needs_read_and_execute_below(checked):
    as_user(checked, SUPERUSER, "PUT", "/sum", "MKDIRS")
    as_user(checked, SUPERUSER, "PUT", "/sum/closed", "MKDIRS", permission="700")
    assert denial(as_user(checked, "bob", "GET", "/sum", "GETCONTENTSUMMARY")) == (
        'Permission denied: user=bob, access=READ_EXECUTE, inode="/sum/closed":hdfs:supergroup:drwx------')
    summary = as_user(checked, SUPERUSER, "GET", "/sum", "GETCONTENTSUMMARY").json()["ContentSummary"]
    assert summary["directoryCount"] == 2


def test_chmod_and_chown_rules(checked):
    write(checked, "alice", "/tmp/owned")
    assert as_user(checked, "alice", "PUT", "/tmp/owned", "SETPERMISSION", permission="640").status_code == 200
    assert denial(as_user(checked, "bob", "PUT", "/tmp/owned", "SETPERMISSION", permission="777")) == (
        "Permission denied. user=bob is not the owner of inode=/tmp/owned")
    assert as_user(checked, "alice", "PUT", "/tmp/owned", "SETOWNER", group="staff").status_code == 200
    assert denial(as_user(checked, "alice", "PUT", "/tmp/owned", "SETOWNER", group="carol")) == (
        "User alice does not belong to carol")
    assert denial(as_user(checked, "alice", "PUT", "/tmp/owned", "SETOWNER", owner="bob")) == (
        "User alice is not a super user (non-super user cannot change owner).")
    assert as_user(checked, SUPERUSER, "PUT", "/tmp/owned", "SETOWNER", owner="bob").status_code == 200
    status = as_user(checked, "bob", "GET", "/tmp/owned", "GETFILESTATUS").json()["FileStatus"]
    assert (status["owner"], status["group"], status["permission"]) == ("bob", "staff", "640")


def test_a_request_naming_no_user_acts_as_the_superuser(checked):
    """dfs's own clients name no user unless told to: on an open cluster they keep every right they had."""
    assert as_user(checked, None, "GET", "/home/alice", "LISTSTATUS").status_code == 200


def test_the_audit_trail_has_allowed_and_denied_calls(checked):
    write(checked, "alice", "/home/alice/audited", permission="600")
    denial(as_user(checked, "bob", "GET", "/home/alice/audited", "OPEN"))
    allowed = ("allowed=true\tugi=alice (auth:SIMPLE)\tip=/127.0.0.1\tcmd=create\tsrc=/home/alice/audited\tdst=null"
               "\tperm=alice:alice:rw-------\tproto=webhdfs\n")
    denied = ("allowed=false\tugi=bob (auth:SIMPLE)\tip=/127.0.0.1\tcmd=open\tsrc=/home/alice/audited\tdst=null"
              "\tperm=null\tproto=webhdfs\n")
    lines = wait_for_lines(checked.audit_log, [allowed, denied])
    assert all(" INFO FSNamesystem.audit: " in line for line in lines)
    assert os.stat(checked.audit_log).st_mode & 0o777 == 0o600


def test_the_status_page_lists_the_last_denials(checked):
    denial(as_user(checked, "bob", "GET", "/home/alice", "LISTSTATUS"))
    newest = checked.status()["denials"][0]
    assert {key: newest[key] for key in ("user", "cmd", "src", "ip")} == {
        "user": "bob", "cmd": "listStatus", "src": "/home/alice", "ip": "127.0.0.1"}


def test_permissions_off_restores_the_old_behaviour(make_cluster, tmp_path):
    cluster = make_cluster(datanodes=1, namenode_args=["--replication", "1", "--min-replicas", "1",
                                                       "--permissions", "off"])
    write(cluster, "alice", "/home/alice/diary", permission="600")
    as_user(cluster, "alice", "PUT", "/home/alice", "SETPERMISSION", permission="700")
    assert as_user(cluster, "bob", "GET", "/home/alice/diary", "OPEN").content == b"secret"
    assert as_user(cluster, "bob", "PUT", "/home/alice", "SETOWNER", owner="bob").status_code == 200
    assert as_user(cluster, "bob", "DELETE", "/home/alice", "DELETE", recursive="true").json() == {"boolean": True}


def test_only_the_superuser_formats_holds_safe_mode_decommissions_balances_or_runs_fsck(checked):
    """Cluster-wide routes took any caller: bob could list every block id with fsck, or format the cluster."""
    write(checked, "alice", "/home/alice/kept", permission="600")
    node = checked.status()["nodes"][0]["id"]
    for method, route, params in [("GET", "/cluster/fsck", {"path": "/"}),
                                  ("POST", "/cluster/safemode", {"action": "enter"}),
                                  ("POST", f"/cluster/datanodes/{node}/decommission", {}),
                                  ("POST", f"/cluster/datanodes/{node}/maintenance", {"for": "60"}),
                                  ("POST", "/cluster/format", {"confirm": "true"}),
                                  ("POST", "/cluster/balance", {}), ("POST", "/cluster/balance", {"action": "stop"})]:
        response = requests.request(method, checked.url + route, params={"user.name": "bob", **params}, timeout=30)
        assert denial(response) == "Access denied for user bob. Superuser privilege is required", route
    assert as_user(checked, "alice", "GET", "/home/alice/kept", "OPEN").content == b"secret"
    fsck = requests.get(checked.url + "/cluster/fsck", params={"user.name": SUPERUSER, "path": "/home"}, timeout=30)
    assert fsck.status_code == 200, fsck.text


def test_expunging_the_trash_deletes_only_what_the_caller_may_delete(checked):
    """A rename needs no rights inside the tree it moves, so bob can move alice's directory into his trash; an
    immediate EXPUNGE then deleted it as the cluster. It now deletes as bob, as Hadoop's client-side expunge does."""
    as_user(checked, SUPERUSER, "PUT", "/shared", "MKDIRS", permission="777")
    as_user(checked, SUPERUSER, "PUT", "/user/bob", "MKDIRS")
    as_user(checked, SUPERUSER, "PUT", "/user/bob", "SETOWNER", owner="bob", group="bob")
    as_user(checked, "alice", "PUT", "/shared/team", "MKDIRS", permission="755")
    write(checked, "alice", "/shared/team/keep", permission="644")
    as_user(checked, "bob", "PUT", "/user/bob/.Trash/Current/shared", "MKDIRS", permission="700")
    moved = as_user(checked, "bob", "PUT", "/shared/team", "RENAME", destination="/user/bob/.Trash/Current/shared/team")
    assert moved.json() == {"boolean": True}, moved.text
    assert denial(as_user(checked, "bob", "POST", "/", "EXPUNGE", immediate="true")).startswith(
        "Permission denied: user=bob, access=ALL")
    trashed = as_user(checked, SUPERUSER, "GET", "/user/bob/.Trash", "LISTSTATUS").json()["FileStatuses"]["FileStatus"]
    checkpoint = trashed[0]["pathSuffix"]
    assert as_user(checked, SUPERUSER, "GET", f"/user/bob/.Trash/{checkpoint}/shared/team/keep", "OPEN").content == (
        b"secret")


def test_setting_a_storage_policy_needs_write_on_the_path(checked):
    """SETSTORAGEPOLICY and UNSETSTORAGEPOLICY were checked as a GETFILESTATUS (traverse only), so anyone could
    set them, and the audit trail said so; HDFS asks for WRITE."""
    write(checked, "alice", "/tmp/alice-policy", permission="644")
    for op, params in (("SETSTORAGEPOLICY", {"storagepolicy": "HOT"}), ("UNSETSTORAGEPOLICY", {})):
        method = "PUT" if op == "SETSTORAGEPOLICY" else "POST"
        assert denial(as_user(checked, "bob", method, "/tmp/alice-policy", op, **params)) == (
            'Permission denied: user=bob, access=WRITE, inode="/tmp/alice-policy":alice:supergroup:-rw-r--r--')
        assert as_user(checked, "alice", method, "/tmp/alice-policy", op, **params).status_code == 200
