"""HDFS's permission model (dfs.namenode.permissions) against expectations written by hand from HDFS's rules
(FSPermissionChecker and the FSDir*Op classes): users × operations × modes, with HDFS's exact denial texts."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dfs import errors, paths
from dfs.errors import AccessControlException, NotADirectory
from dfs.namenode.namespace.model import DIRECTORY, FILE, Inode
from dfs.namenode.permissions import (ACTION_NAMES, ALL, OPERATIONS, READ, READ_EXECUTE, WRITE, Caller, Checker,
                                      Permissions, mode_string)

NAMENODE_USER = "hdfs"
GROUPS = {"alice": {"alice", "staff"}, "bob": {"bob", "staff"}, "carol": {"carol"}, "hdfs": {"hdfs"},
          "admin": {"admin", "supergroup"}}


class Tree:
    """A namespace in memory: what ``path_inodes`` and a directory listing give the checks."""

    def __init__(self):
        self.inodes = {"/": Inode(1, DIRECTORY, 0o755, "hdfs", "supergroup", 0, 0)}
        self.entries = {1: []}

    def add(self, path, mode, owner, group=None, kind=FILE):
        inode = Inode(len(self.inodes) + 1, kind, mode, owner, group or owner, 0, 0)
        self.inodes[path] = inode
        self.entries[self.inodes[paths.parent(path)].id].append((paths.basename(path), inode))
        self.entries[inode.id] = []
        return inode

    def mkdir(self, path, mode, owner, group=None):
        return self.add(path, mode, owner, group, DIRECTORY)

    def path_inodes(self, path):
        names = paths.split(path)
        return [self.inodes.get(prefix) for prefix in ["/"] + ["/" + "/".join(names[:i + 1])
                                                            for i in range(len(names))]]

    def children(self, inode):
        return self.entries[inode.id]


def sample_tree():
    tree = Tree()
    tree.mkdir("/home", 0o755, "hdfs", "supergroup")
    tree.mkdir("/home/alice", 0o700, "alice")
    tree.add("/home/alice/f", 0o600, "alice")
    tree.mkdir("/pub", 0o755, "alice", "staff")
    tree.add("/pub/r", 0o644, "alice", "staff")
    tree.add("/pub/zero", 0o000, "alice", "staff")
    tree.mkdir("/pub/sub", 0o755, "alice", "staff")
    tree.add("/pub/sub/x", 0o644, "alice", "staff")
    tree.mkdir("/pub/hidden", 0o750, "alice", "staff")
    tree.mkdir("/shared", 0o770, "alice", "staff")
    tree.add("/shared/doc", 0o640, "alice", "staff")
    tree.mkdir("/shared/inner", 0o755, "alice", "staff")
    tree.add("/shared/inner/f", 0o666, "alice", "staff")
    tree.mkdir("/shared/empty", 0o755, "alice", "staff")
    tree.mkdir("/shared/box", 0o1777, "alice", "staff")
    tree.add("/shared/box/c", 0o644, "carol")
    tree.mkdir("/shared/deep", 0o777, "alice", "staff")
    tree.mkdir("/shared/deep/d2", 0o755, "alice", "staff")
    tree.add("/shared/deep/d2/f", 0o666, "alice", "staff")
    tree.mkdir("/tmp", 0o1777, "hdfs", "supergroup")
    tree.add("/tmp/a", 0o644, "alice")
    tree.add("/tmp/b", 0o666, "bob")
    tree.mkdir("/drop", 0o1777, "carol")
    tree.add("/drop/a", 0o644, "alice")
    tree.mkdir("/locked", 0o000, "hdfs", "supergroup")
    tree.add("/locked/f", 0o644, "hdfs", "supergroup")
    return tree


def checker(user, enabled=True):
    return Checker(Caller.of(user, GROUPS.get(user, {user}), NAMENODE_USER), enabled)


def run(tree, user, op, path, destination=None, sources=(), enabled=True, **extra):
    checker(user, enabled).check_operation(
        op, path, tree.path_inodes(path),
        destination=None if destination is None else (destination, tree.path_inodes(destination)),
        sources=[(source, tree.path_inodes(source)) for source in sources], children=tree.children, **extra)


def denied(user, access, inode):
    return f"Permission denied: user={user}, access={access}, inode={inode}"


def sticky(user, path, parent):
    return f"Permission denied by sticky bit: user={user}, path={path}, parent={parent}"


ALLOWED = None
# (user, op, path, extra arguments, HDFS's answer: None when allowed, else the exact message)
MATRIX = [
    # Reading, and traversal: execute on every ancestor.
    ("alice", "OPEN", "/home/alice/f", {}, ALLOWED),
    ("bob", "OPEN", "/home/alice/f", {}, denied("bob", "EXECUTE", '"/home/alice":alice:alice:drwx------')),
    ("bob", "GETFILESTATUS", "/home/alice", {}, ALLOWED),
    ("bob", "GETFILESTATUS", "/home/alice/f", {}, denied("bob", "EXECUTE", '"/home/alice":alice:alice:drwx------')),
    ("alice", "GETFILESTATUS", "/locked", {}, ALLOWED),
    ("alice", "GETFILESTATUS", "/locked/f", {}, denied("alice", "EXECUTE", '"/locked":hdfs:supergroup:d---------')),
    ("alice", "OPEN", "/pub/zero", {}, denied("alice", "READ", '"/pub/zero":alice:staff:----------')),
    ("bob", "OPEN", "/pub/zero", {}, denied("bob", "READ", '"/pub/zero":alice:staff:----------')),
    ("carol", "OPEN", "/pub/r", {}, ALLOWED),
    ("carol", "GETFILECHECKSUM", "/pub/r", {}, ALLOWED),
    ("carol", "GETFILEBLOCKLOCATIONS", "/pub/zero", {}, denied("carol", "READ", '"/pub/zero":alice:staff:----------')),
    ("bob", "OPEN", "/shared/doc", {}, ALLOWED),  # group read
    ("carol", "OPEN", "/shared/doc", {}, denied("carol", "EXECUTE", '"/shared":alice:staff:drwxrwx---')),
    ("carol", "GETHOMEDIRECTORY", "/", {}, ALLOWED),
    # Listing: read+execute on a directory; a file needs only traversal.
    ("bob", "LISTSTATUS", "/pub", {}, ALLOWED),
    ("bob", "LISTSTATUS", "/", {}, ALLOWED),
    ("carol", "LISTSTATUS", "/pub/hidden", {}, denied("carol", "READ_EXECUTE", '"/pub/hidden":alice:staff:drwxr-x---')),
    ("bob", "LISTSTATUS", "/pub/zero", {}, ALLOWED),
    ("alice", "LISTSTATUS", "/locked", {}, denied("alice", "READ_EXECUTE", '"/locked":hdfs:supergroup:d---------')),
    # Content summary: read+execute on every directory of the subtree, empty ones too.
    ("carol", "GETCONTENTSUMMARY", "/pub/sub", {}, ALLOWED),
    ("carol", "GETCONTENTSUMMARY", "/pub", {}, denied("carol", "READ_EXECUTE",
                                                      '"/pub/hidden":alice:staff:drwxr-x---')),
    ("bob", "GETCONTENTSUMMARY", "/pub", {}, ALLOWED),
    # Creating: write on the nearest existing ancestor; overwriting: write on the file too.
    ("bob", "CREATE", "/pub/new", {}, denied("bob", "WRITE", '"/pub":alice:staff:drwxr-xr-x')),
    ("bob", "CREATE", "/home/alice/new", {}, denied("bob", "EXECUTE", '"/home/alice":alice:alice:drwx------')),
    ("bob", "CREATE", "/shared/new", {}, ALLOWED),
    ("bob", "CREATE", "/shared/doc", {"overwrite": True},
     denied("bob", "WRITE", '"/shared/doc":alice:staff:-rw-r-----')),
    ("bob", "CREATE", "/shared/doc", {}, ALLOWED),  # without overwrite the namespace answers FileExists
    ("bob", "CREATE", "/shared/inner/f", {"overwrite": True},
     denied("bob", "WRITE", '"/shared/inner":alice:staff:drwxr-xr-x')),
    ("carol", "CREATE", "/pub/r", {"overwrite": True}, denied("carol", "WRITE", '"/pub/r":alice:staff:-rw-r--r--')),
    ("alice", "CREATE", "/shared/doc", {"overwrite": True}, ALLOWED),
    ("bob", "MKDIRS", "/pub/new/deeper", {}, denied("bob", "WRITE", '"/pub":alice:staff:drwxr-xr-x')),
    ("bob", "MKDIRS", "/pub/sub", {}, ALLOWED),  # it exists: only traversal
    ("bob", "MKDIRS", "/pub/sub/new", {}, denied("bob", "WRITE", '"/pub/sub":alice:staff:drwxr-xr-x')),
    ("alice", "MKDIRS", "/home/alice/a/b", {}, ALLOWED),
    ("bob", "MKDIRS", "/shared/x/y", {}, ALLOWED),
    ("carol", "MKDIRS", "/tmp/mine", {}, ALLOWED),
    ("carol", "CREATESYMLINK", "/pub/link", {}, denied("carol", "WRITE", '"/pub":alice:staff:drwxr-xr-x')),
    # Writing a file: write on it.
    ("bob", "APPEND", "/shared/doc", {}, denied("bob", "WRITE", '"/shared/doc":alice:staff:-rw-r-----')),
    ("bob", "APPEND", "/shared/inner/f", {}, ALLOWED),
    ("bob", "TRUNCATE", "/pub/r", {}, denied("bob", "WRITE", '"/pub/r":alice:staff:-rw-r--r--')),
    ("bob", "SETTIMES", "/pub/r", {}, denied("bob", "WRITE", '"/pub/r":alice:staff:-rw-r--r--')),
    ("bob", "SETREPLICATION", "/tmp/b", {}, ALLOWED),
    ("carol", "SETREPLICATION", "/pub/r", {}, denied("carol", "WRITE", '"/pub/r":alice:staff:-rw-r--r--')),
    # Deleting: write on the parent, the sticky bit, rwx on every non-empty directory inside, sticky bits inside.
    ("alice", "DELETE", "/tmp/a", {}, ALLOWED),
    ("bob", "DELETE", "/tmp/b", {}, ALLOWED),
    ("bob", "DELETE", "/tmp/a", {}, sticky("bob", '"/tmp/a":alice:alice:-rw-r--r--',
                                           '"/tmp":hdfs:supergroup:drwxrwxrwt')),
    ("carol", "DELETE", "/drop/a", {}, ALLOWED),  # the sticky directory's owner
    ("bob", "DELETE", "/drop/a", {}, sticky("bob", '"/drop/a":alice:alice:-rw-r--r--',
                                            '"/drop":carol:carol:drwxrwxrwt')),
    ("bob", "DELETE", "/pub/sub", {}, denied("bob", "WRITE", '"/pub":alice:staff:drwxr-xr-x')),
    ("bob", "DELETE", "/shared/inner", {}, denied("bob", "ALL", '"/shared/inner":alice:staff:drwxr-xr-x')),
    ("bob", "DELETE", "/shared/empty", {}, ALLOWED),
    ("bob", "DELETE", "/shared/deep", {}, denied("bob", "ALL", '"/shared/deep/d2":alice:staff:drwxr-xr-x')),
    ("bob", "DELETE", "/shared/box", {}, sticky("bob", '"/shared/box/c":carol:carol:-rw-r--r--',
                                                '"/shared/box":alice:staff:drwxrwxrwt')),
    ("alice", "DELETE", "/shared/box", {}, ALLOWED),  # the owner of the sticky directory inside
    ("alice", "DELETE", "/home/alice", {}, denied("alice", "WRITE", '"/home":hdfs:supergroup:drwxr-xr-x')),
    ("alice", "DELETE", "/home/alice/f", {}, ALLOWED),
    ("bob", "DELETE", "/home/alice", {}, denied("bob", "WRITE", '"/home":hdfs:supergroup:drwxr-xr-x')),
    # Renaming: write on both parents, the sticky bit on the source and on an entry it replaces.
    ("bob", "RENAME", "/tmp/b", {"destination": "/tmp/c"}, ALLOWED),
    ("bob", "RENAME", "/tmp/a", {"destination": "/tmp/c"}, sticky("bob", '"/tmp/a":alice:alice:-rw-r--r--',
                                                                   '"/tmp":hdfs:supergroup:drwxrwxrwt')),
    ("alice", "RENAME", "/tmp/a", {"destination": "/tmp/b"}, sticky("alice", '"/tmp/b":bob:bob:-rw-rw-rw-',
                                                                     '"/tmp":hdfs:supergroup:drwxrwxrwt')),
    ("bob", "RENAME", "/tmp/b", {"destination": "/pub/b"}, denied("bob", "WRITE", '"/pub":alice:staff:drwxr-xr-x')),
    ("bob", "RENAME", "/pub/r", {"destination": "/tmp/r"}, denied("bob", "WRITE", '"/pub":alice:staff:drwxr-xr-x')),
    ("alice", "RENAME", "/pub/r", {"destination": "/shared/r"}, ALLOWED),
    ("carol", "RENAME", "/tmp/b", {"destination": "/tmp/c"}, sticky("carol", '"/tmp/b":bob:bob:-rw-rw-rw-',
                                                                     '"/tmp":hdfs:supergroup:drwxrwxrwt')),
    # Copying (dfs): read the source, create the destination, write a file it replaces.
    ("bob", "COPY", "/pub/r", {"destination": "/shared/copy"}, ALLOWED),
    ("bob", "COPY", "/pub/r", {"destination": "/shared/doc", "overwrite": True},
     denied("bob", "WRITE", '"/shared/doc":alice:staff:-rw-r-----')),
    ("carol", "COPY", "/pub/r", {"destination": "/pub/sub/x", "overwrite": True},
     denied("carol", "WRITE", '"/pub/sub/x":alice:staff:-rw-r--r--')),
    ("carol", "COPY", "/shared/doc", {"destination": "/tmp/doc"},
     denied("carol", "EXECUTE", '"/shared":alice:staff:drwxrwx---')),
    ("carol", "COPY", "/pub/r", {"destination": "/pub/r2"}, denied("carol", "WRITE", '"/pub":alice:staff:drwxr-xr-x')),
    # Concatenating: write on the target, read on each source and write on its parent, with the sticky bit.
    ("bob", "CONCAT", "/shared/inner/f", {"sources": ["/tmp/b"]}, ALLOWED),
    ("alice", "CONCAT", "/pub/r", {"sources": ["/tmp/b"]}, sticky("alice", '"/tmp/b":bob:bob:-rw-rw-rw-',
                                                                  '"/tmp":hdfs:supergroup:drwxrwxrwt')),
    ("bob", "CONCAT", "/tmp/b", {"sources": ["/pub/r"]}, denied("bob", "WRITE", '"/pub":alice:staff:drwxr-xr-x')),
    ("bob", "CONCAT", "/tmp/b", {"sources": ["/pub/zero"]},
     denied("bob", "READ", '"/pub/zero":alice:staff:----------')),  # the read before the directory's write
    # Mode and owner: only the owner changes the mode; only a superuser gives a file away; the owner may set a
    # group they are in.
    ("alice", "SETPERMISSION", "/pub/r", {}, ALLOWED),
    ("bob", "SETPERMISSION", "/pub/r", {}, "Permission denied. user=bob is not the owner of inode=/pub/r"),
    ("bob", "SETPERMISSION", "/tmp/b", {}, ALLOWED),
    ("alice", "SETOWNER", "/pub/r", {"group": "staff"}, ALLOWED),
    ("alice", "SETOWNER", "/pub/r", {"owner": "alice"}, ALLOWED),
    ("alice", "SETOWNER", "/pub/r", {"owner": "bob"},
     "User alice is not a super user (non-super user cannot change owner)."),
    ("alice", "SETOWNER", "/pub/r", {"group": "carol"}, "User alice does not belong to carol"),
    ("bob", "SETOWNER", "/pub/r", {"group": "staff"}, "Permission denied. user=bob is not the owner of inode=/pub/r"),
    ("carol", "SETOWNER", "/home/alice/f", {"owner": "carol"},
     denied("carol", "EXECUTE", '"/home/alice":alice:alice:drwx------')),
    # Superusers: the namenode's user and the supergroup's members pass everything.
    ("hdfs", "OPEN", "/home/alice/f", {}, ALLOWED),
    ("hdfs", "SETOWNER", "/pub/r", {"owner": "bob", "group": "carol"}, ALLOWED),
    ("admin", "DELETE", "/home/alice", {}, ALLOWED),
    ("admin", "DELETE", "/tmp/a", {}, ALLOWED),
    ("admin", "GETCONTENTSUMMARY", "/", {}, ALLOWED),
    ("admin", "SETPERMISSION", "/pub/r", {}, ALLOWED),
]


@pytest.mark.parametrize("user, op, path, extra, expected", MATRIX,
                         ids=[f"{user}-{op}-{path}-{i}" for i, (user, op, path, _, _) in enumerate(MATRIX)])
def test_permission_matrix(user, op, path, extra, expected):
    tree = sample_tree()
    if expected is ALLOWED:
        run(tree, user, op, path, **extra)
        return
    with pytest.raises(AccessControlException) as caught:
        run(tree, user, op, path, **extra)
    assert caught.value.message == expected
    # The same request passes with checking off, and for a superuser.
    run(tree, user, op, path, enabled=False, **extra)
    run(tree, "admin", op, path, **extra)


def test_a_file_on_the_way_is_not_a_directory():
    with pytest.raises(NotADirectory, match=r"^/pub/r \(is not a directory\)$"):
        run(sample_tree(), "alice", "GETFILESTATUS", "/pub/r/x")


def test_denial_is_hdfs_remote_exception():
    with pytest.raises(AccessControlException) as caught:
        run(sample_tree(), "bob", "OPEN", "/home/alice/f")
    assert caught.value.status == 403
    assert caught.value.to_json()["RemoteException"] == {
        "exception": "AccessControlException",
        "javaClassName": "org.apache.hadoop.security.AccessControlException",
        "message": 'Permission denied: user=bob, access=EXECUTE, inode="/home/alice":alice:alice:drwx------'}
    rebuilt = errors.from_remote(403, caught.value.to_json())
    assert isinstance(rebuilt, errors.PermissionDenied)


def test_the_owner_class_decides_even_when_others_may_do_more():
    inode = Inode(2, FILE, 0o077, "alice", "staff", 0, 0)
    assert not checker("alice").permits(inode, READ)
    assert checker("bob").permits(inode, READ)  # group
    assert checker("carol").permits(inode, READ)  # other


@pytest.mark.parametrize("mode, text", [(0o755, "rwxr-xr-x"), (0o644, "rw-r--r--"), (0, "---------"),
                                        (0o1777, "rwxrwxrwt"), (0o1776, "rwxrwxrwT"), (0o4755, "rwxr-xr-x"),
                                        (0o1000, "--------T"), (0o2770, "rwxrwx---")])
def test_mode_text_as_hdfs_prints_it(mode, text):
    assert mode_string(mode) == text


def test_access_names_are_hdfs_fsaction_names():
    assert [ACTION_NAMES[a] for a in (READ, WRITE, READ | WRITE, READ_EXECUTE, WRITE | 1, ALL, 0)] == [
        "READ", "WRITE", "READ_WRITE", "READ_EXECUTE", "WRITE_EXECUTE", "ALL", "NONE"]


@pytest.mark.parametrize("user, groups, superuser", [
    ("hdfs", [], True), ("admin", ["admin", "supergroup"], True), ("root", ["root", "wheel"], False),
    ("alice", ["staff"], False)])
def test_superuser_is_the_namenode_user_or_a_supergroup_member(user, groups, superuser):
    assert Caller.of(user, groups, NAMENODE_USER).superuser is superuser
    assert Caller.of(user, groups, NAMENODE_USER, supergroup="wheel").superuser is (superuser and user == "hdfs"
                                                                                    or "wheel" in groups)


def test_superuser_check():
    checker("admin").check_superuser()
    checker("bob", enabled=False).check_superuser()
    with pytest.raises(AccessControlException, match=r"^Access denied for user bob\. Superuser privilege is required$"):
        checker("bob").check_superuser()


def test_every_operation_the_namenode_serves_has_its_checks(namenode_app):
    assert {op for _, op in namenode_app.ops} <= set(OPERATIONS)


# Properties over random chains of inodes: any modes, owners and groups, any operation.
NAMES = st.sampled_from(["alice", "bob", "carol"])
MODES = st.integers(0, 0o1777)
CHAIN = st.lists(st.tuples(MODES, NAMES, st.sampled_from(["alice", "bob", "carol", "staff"]), st.booleans()),
                 min_size=1, max_size=5)
OPS = st.sampled_from(sorted(OPERATIONS))


def chain_tree(chain):
    """A path /n1/n2/... whose inodes have the drawn attributes (the last may be a file), plus one entry under each
    directory so the subtree checks see non-empty directories."""
    tree = Tree()
    root_mode, root_owner, root_group, _ = chain[0]
    tree.inodes["/"] = Inode(1, DIRECTORY, root_mode, root_owner, root_group, 0, 0)
    path = "/"
    for i, (mode, owner, group, is_file) in enumerate(chain[1:], 1):
        path = paths.join(path, f"n{i}")
        last = i == len(chain) - 1
        tree.add(path, mode, owner, group, FILE if last and is_file else DIRECTORY)
    return tree, path


def attempt(tree, path, user, op, enabled=True, superuser=False):
    """``op`` on ``path``, the path also standing for the destination and the source, chown/chgrp to carol."""
    resolved = (path, tree.path_inodes(path))
    Checker(Caller(user, frozenset(GROUPS[user]), superuser), enabled).check_operation(
        op, *resolved, destination=resolved, sources=[resolved], overwrite=True, children=tree.children,
        owner="carol", group="carol")


@given(CHAIN, NAMES, OPS)
def test_a_superuser_is_always_allowed(chain, user, op):
    tree, path = chain_tree(chain)
    attempt(tree, path, user, op, superuser=True)


@given(CHAIN, NAMES, OPS)
def test_with_checking_off_everything_is_allowed(chain, user, op):
    tree, path = chain_tree(chain)
    attempt(tree, path, user, op, enabled=False)


@given(CHAIN.filter(lambda chain: len(chain) > 1), NAMES, OPS.filter(lambda op: op != "GETHOMEDIRECTORY"))
def test_mode_zero_everywhere_denies_everyone_but_the_superuser(chain, user, op):
    tree, path = chain_tree([(0, owner, group, is_file) for _, owner, group, is_file in chain])
    with pytest.raises(AccessControlException):
        attempt(tree, path, user, op)
    attempt(tree, path, user, op, superuser=True)


def test_paths_an_operation_does_not_take_are_ignored():
    tree = sample_tree()
    checker("carol").check_operation("OPEN", "/pub/r", tree.path_inodes("/pub/r"), children=tree.children,
                                     destination=("/home/alice/x", tree.path_inodes("/home/alice/x")),
                                     sources=[("/home/alice/f", tree.path_inodes("/home/alice/f"))])


class Asked:
    def __init__(self):
        self.users = []

    def groups(self, user):
        self.users.append(user)
        return GROUPS.get(user, ())


def test_settings_build_checkers_with_the_mapping_groups():
    groups = Asked()
    settings = Permissions(groups, NAMENODE_USER)
    assert settings.caller("admin") == Caller("admin", frozenset({"admin", "supergroup"}), True)
    assert settings.checker("hdfs").caller.superuser
    bob = settings.checker("bob")
    assert bob.caller.groups == {"bob", "staff"} and not bob.caller.superuser and bob.enabled
    assert Permissions(groups, NAMENODE_USER, supergroup="staff").caller("bob").superuser
    off = Permissions(groups, NAMENODE_USER, enabled=False).checker("carol")
    assert off.unchecked
    assert groups.users == ["admin", "hdfs", "bob", "bob"]  # none asked with checking off


def allowed(tree, path, user, op):
    try:
        attempt(tree, path, user, op)
    except AccessControlException:
        return False
    return True


@given(CHAIN, st.lists(st.integers(0, 0o777), min_size=5, max_size=5), NAMES, OPS)
def test_more_rwx_bits_never_deny_what_fewer_allowed(chain, extra, user, op):
    tree, path = chain_tree(chain)
    wider, _ = chain_tree([(mode | more, owner, group, is_file)
                           for (mode, owner, group, is_file), more in zip(chain, extra)])
    if allowed(tree, path, user, op):
        assert allowed(wider, path, user, op)
