"""ACLs over WebHDFS against a real namenode checking permissions: bob reaches alice's file through a named-user
entry, loses it when the mask takes it away, a default ACL is inherited by new children, HDFS's answers and errors,
and CHECKACCESS."""

import os
import subprocess
import sys

from test_permission_matrix import SUPERUSER, as_user, checked, denial, write  # noqa: F401 (checked: a fixture)


def _ok(response, status=200):
    assert response.status_code == status, response.text
    return response


def acl_status(cluster, path, user="alice"):
    return _ok(as_user(cluster, user, "GET", path, "GETACLSTATUS")).json()["AclStatus"]


def test_a_named_user_entry_grants_and_the_mask_takes_away(checked):
    write(checked, "alice", "/home/alice/shared", data=b"for bob", permission="600")
    assert denial(as_user(checked, "bob", "GET", "/home/alice/shared", "OPEN")).startswith("Permission denied")
    _ok(as_user(checked, "alice", "PUT", "/home/alice", "MODIFYACLENTRIES", aclspec="user:bob:--x"))
    _ok(as_user(checked, "alice", "PUT", "/home/alice/shared", "MODIFYACLENTRIES", aclspec="user:bob:rw-"))
    assert as_user(checked, "bob", "GET", "/home/alice/shared", "OPEN").content == b"for bob"
    assert acl_status(checked, "/home/alice/shared", "bob") == {
        "entries": ["user:bob:rw-", "group::---"], "group": "alice", "owner": "alice", "permission": "660",
        "stickyBit": False}
    status = _ok(as_user(checked, "bob", "GET", "/home/alice/shared", "GETFILESTATUS")).json()["FileStatus"]
    assert status["aclBit"] is True and status["permission"] == "660"
    listed = _ok(as_user(checked, "alice", "GET", "/home/alice", "LISTSTATUS")).json()["FileStatuses"]["FileStatus"]
    assert {entry["pathSuffix"]: entry.get("aclBit", False) for entry in listed}["shared"] is True
    _ok(as_user(checked, "bob", "GET", "/home/alice/shared", "CHECKACCESS", fsaction="rw-"))
    # The group bits are the mask: chmod 600 leaves bob's entry but masks it to nothing.
    _ok(as_user(checked, "alice", "PUT", "/home/alice/shared", "SETPERMISSION", permission="600"))
    assert denial(as_user(checked, "bob", "GET", "/home/alice/shared", "OPEN")) == (
        'Permission denied: user=bob, access=READ, inode="/home/alice/shared":alice:alice:-rw-------+')
    assert denial(as_user(checked, "bob", "GET", "/home/alice/shared", "CHECKACCESS", fsaction="r--")).endswith("+")
    assert acl_status(checked, "/home/alice/shared")["entries"] == ["user:bob:rw-", "group::---"]
    _ok(as_user(checked, "alice", "PUT", "/home/alice/shared", "REMOVEACL"))
    assert "aclBit" not in _ok(as_user(checked, "alice", "GET", "/home/alice/shared", "GETFILESTATUS")).json()[
        "FileStatus"]


def test_a_default_acl_is_inherited(checked):
    _ok(as_user(checked, "alice", "PUT", "/home/alice/team", "MKDIRS", permission="750"))
    _ok(as_user(checked, "alice", "PUT", "/home/alice/team", "SETACL",
                aclspec="user::rwx,group::r-x,other::---,user:bob:r-x,default:user:bob:rwx,default:other::---"))
    assert acl_status(checked, "/home/alice/team")["entries"] == [
        "user:bob:r-x", "group::r-x", "default:user::rwx", "default:user:bob:rwx", "default:group::r-x",
        "default:mask::rwx", "default:other::---"]
    # As Hadoop's client sends it: the mode after a 022 umask, and the mode before it.
    write(checked, "alice", "/home/alice/team/report", data=b"numbers", permission="644", unmaskedpermission="666")
    assert acl_status(checked, "/home/alice/team/report") == {
        "entries": ["user:bob:rwx", "group::r-x"], "group": "alice", "owner": "alice", "permission": "660",
        "stickyBit": False}
    _ok(as_user(checked, "bob", "POST", "/home/alice/team/report", "APPEND", data=b" and more"))
    assert as_user(checked, "bob", "GET", "/home/alice/team/report", "OPEN").content == b"numbers and more"
    _ok(as_user(checked, "alice", "PUT", "/home/alice/team/sub", "MKDIRS", permission="755",
                unmaskedpermission="777"))
    sub = acl_status(checked, "/home/alice/team/sub")
    assert sub["permission"] == "770" and "default:user:bob:rwx" in sub["entries"]
    write(checked, "bob", "/home/alice/team/sub/bobs", data=b"mine")  # bob writes through the inherited entry
    assert denial(as_user(checked, "carol", "GET", "/home/alice/team/report", "OPEN")).startswith(
        'Permission denied: user=carol, access=EXECUTE, inode="/home/alice":')


def test_only_the_owner_changes_an_acl_and_errors_are_hdfs(checked):
    _ok(as_user(checked, "alice", "PUT", "/home/alice/mine", "MKDIRS"))
    assert denial(as_user(checked, "bob", "PUT", "/home/alice/mine", "MODIFYACLENTRIES", aclspec="user:bob:rwx")) \
        .startswith("Permission denied")
    _ok(as_user(checked, "alice", "PUT", "/home/alice", "MODIFYACLENTRIES", aclspec="user:bob:r-x"))
    assert denial(as_user(checked, "bob", "PUT", "/home/alice/mine", "MODIFYACLENTRIES", aclspec="user:bob:rwx")) \
        == "Permission denied. user=bob is not the owner of inode=/home/alice/mine"
    _ok(as_user(checked, SUPERUSER, "PUT", "/home/alice/mine", "MODIFYACLENTRIES", aclspec="user:carol:r--"))
    for params, status, exception, message in [
        ({"aclspec": "user::rwx"}, 403, "AclException", "Invalid ACL: the user, group and other entries are "
                                                         "required."),
        ({"aclspec": "user:bob:rw"}, 400, "IllegalArgumentException", "Invalid permission in <aclSpec> : user:bob:rw"),
        ({}, 400, "IllegalArgumentException", "aclspec")]:
        response = as_user(checked, "alice", "PUT", "/home/alice/mine", "SETACL", **params)
        assert response.status_code == status, response.text
        remote = response.json()["RemoteException"]
        assert remote["exception"] == exception and message in remote["message"], remote
    response = as_user(checked, "alice", "PUT", "/home/alice/mine", "REMOVEACLENTRIES", aclspec="mask::")
    assert response.json()["RemoteException"]["message"] == "Invalid ACL: mask is required and cannot be deleted."
    _ok(as_user(checked, "alice", "PUT", "/home/alice/mine", "REMOVEACLENTRIES", aclspec="user:carol:"))
    assert acl_status(checked, "/home/alice/mine")["entries"] == ["group::r-x"]
    assert as_user(checked, "alice", "GET", "/home/alice/none", "GETACLSTATUS").status_code == 404
    response = as_user(checked, "alice", "GET", "/home/alice/none", "CHECKACCESS", fsaction="r--")
    assert response.status_code == 404 and response.json()["RemoteException"]["message"] == "Path not found"
    assert as_user(checked, "alice", "GET", "/home/alice/mine", "CHECKACCESS", fsaction="rwz").status_code == 400



# Run in a process of its own: BlockingClient runs a reactor in a thread, which pytest-twisted's reactor forbids.
CLIENT_SCRIPT = """
import sys
from dfs.client import BlockingClient
alice, bob = BlockingClient(sys.argv[1], user="alice"), BlockingClient(sys.argv[1], user="bob")
alice.change_acl("/home/alice", "MODIFYACLENTRIES", "user:bob:--x")
assert not bob.can("/home/alice/py", "r--")
alice.change_acl("/home/alice/py", "MODIFYACLENTRIES", "user:bob:r--")
assert bob.can("/home/alice/py", "r--") and not bob.can("/home/alice/py", "rw-")
assert alice.acl("/home/alice/py")["entries"] == ["user:bob:r--", "group::---"]
assert alice.stat("/home/alice/py")["aclBit"] is True
"""


def test_the_python_client_reads_changes_and_checks_acls(checked):
    write(checked, "alice", "/home/alice/py", permission="600")
    done = subprocess.run([sys.executable, "-c", CLIENT_SCRIPT, checked.url], capture_output=True, text=True,
                          timeout=120, env=dict(os.environ, DFS_CONFIG="/nonexistent.toml", DFS_TOKEN=""))
    assert done.returncode == 0, done.stderr
