"""ACLs in the namespace, on both backends: stored with the inode, changed only by the owner, inherited by new
children, copied by COPY, enforced by the permission checker inside the operation's transaction."""

import pytest
from twisted.internet.task import Clock

from dfs.errors import AccessControlException, AclException, FileNotFound
from dfs.namenode import acls
from dfs.namenode.groups import CachedGroups, parse_groups_file
from dfs.namenode.namespace.model import Extent
from dfs.namenode.permissions import READ, READ_WRITE, WRITE, Permissions
from test_metadata import A, result


class Table:
    def __init__(self, text):
        self.table = parse_groups_file(text)

    def groups(self, user):
        return self.table.get(user, ())


@pytest.fixture
def permissions():
    return Permissions(CachedGroups(Table("alice: alice staff\nbob: bob\ncarol: carol eng\n"), Clock()), "hdfs")


@pytest.fixture
def store(namespace):
    result(namespace.mkdirs("/home", 0o755, "hdfs"))
    result(namespace.mkdirs("/home/alice", 0o750, "alice", "alice"))
    result(namespace.create("/home/alice/f", [Extent(A, 0, 10, 10)], overwrite=False, mode=0o640, owner="alice",
                            group="alice"))
    return namespace


def change(store, path, op, spec="", checker=None):
    return result(store.change_acl(path, op, acls.parse_spec(spec, op != "REMOVEACLENTRIES") if spec else [],
                                   checker))


def test_a_named_user_gets_access_until_the_mask_takes_it(store, permissions):
    alice, bob, carol = (permissions.checker(user) for user in ("alice", "bob", "carol"))
    with pytest.raises(AccessControlException):
        result(store.stat("/home/alice/f", bob))
    change(store, "/home/alice", "MODIFYACLENTRIES", "user:bob:r-x", alice)
    inode = change(store, "/home/alice/f", "MODIFYACLENTRIES", "user:bob:rw-,group:eng:r--", alice)
    assert (inode.mode, inode.acl) == (0o660, "user:bob:rw-,group::r--,group:eng:r--")
    assert result(store.status("/home/alice/f")).inode.acl == inode.acl
    result(store.stat("/home/alice/f", bob))  # bob reads through his entry
    result(store.check_access("/home/alice/f", READ_WRITE, bob))
    with pytest.raises(AccessControlException, match="Permission denied: user=carol, access=EXECUTE"):
        result(store.check_access("/home/alice/f", READ, carol))  # carol's group has no entry on the directory
    result(store.set_permission("/home/alice/f", 0o640, alice))  # the group bits are the mask: r--
    with pytest.raises(AccessControlException,
                       match=r'access=WRITE, inode="/home/alice/f":alice:alice:-rw-r-----\+$'):
        result(store.check_access("/home/alice/f", WRITE, bob))
    result(store.check_access("/home/alice/f", READ, bob))
    change(store, "/home/alice/f", "REMOVEACL", checker=alice)
    with pytest.raises(AccessControlException):
        result(store.stat("/home/alice/f", bob))
    assert result(store.status("/home/alice/f")).inode.acl is None


def test_only_the_owner_changes_an_acl(store, permissions):
    with pytest.raises(AccessControlException, match="user=bob is not the owner of inode=/home/alice"):
        change(store, "/home/alice", "SETACL", "user::rwx,group::---,other::---,user:bob:rwx",
               permissions.checker("bob"))
    change(store, "/home/alice", "MODIFYACLENTRIES", "user:bob:rwx", permissions.checker("hdfs"))
    with pytest.raises(AclException, match="the user, group and other entries are required"):
        change(store, "/home/alice", "SETACL", "user::rwx", permissions.checker("alice"))
    with pytest.raises(AclException, match="only directories may have a default ACL. Path: /home/alice/f"):
        change(store, "/home/alice/f", "MODIFYACLENTRIES", "default:user:bob:r--")
    with pytest.raises(FileNotFound):
        change(store, "/home/none", "REMOVEACL")


def test_new_children_inherit_the_default_acl_and_copies_keep_it(store):
    change(store, "/home/alice", "MODIFYACLENTRIES", "default:user:bob:rwx,default:group::r-x,default:other::---")
    f = result(store.create("/home/alice/new", [], overwrite=False, mode=0o644, owner="alice", unmasked=0o666))
    assert (f.mode, f.acl) == (0o660, "user:bob:rwx,group::r-x")  # mask rw- from 666, other --- by default
    d = result(store.mkdirs("/home/alice/sub/deeper", 0o755, "alice", unmasked=0o777))
    assert d.mode == 0o770 and d.acl.startswith("user:bob:rwx,group::r-x,default:user::rwx")
    assert result(store.status("/home/alice/sub")).inode.acl == d.acl  # an implicit parent inherits too (755: r-x)
    assert result(store.status("/home/alice/sub")).inode.mode == 0o750
    result(store.copy("/home/alice/new", "/home/alice/copy"))
    assert result(store.status("/home/alice/copy")).inode.acl == f.acl
    change(store, "/home/alice", "REMOVEDEFAULTACL")
    plain = result(store.create("/home/alice/plain", [], overwrite=False, mode=0o644, unmasked=0o666))
    assert (plain.mode, plain.acl) == (0o644, None)
