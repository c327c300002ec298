"""HDFS's ACL rules (dfs.namenode.acls): aclspec parsing, the five changes, the mask, storage in the mode plus the
stored entries, and default-ACL inheritance, against cases worked out from HDFS's AclTransformation."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dfs.errors import AclException, BadRequest
from dfs.namenode import acls
from dfs.namenode.namespace.model import Inode
from dfs.namenode.permissions import READ, WRITE, Caller, Checker


def change(op, mode, text, spec="", directory=True):
    return acls.change(op, mode, text, directory, acls.parse_spec(spec, op != "REMOVEACLENTRIES"))


def test_parse_spec_as_hadoop():
    assert acls.parse_spec("user:bob:rw-,default:group:eng:r-x,,mask::r--") == [
        acls.Entry(False, "user", "bob", 6), acls.Entry(True, "group", "eng", 5), acls.Entry(False, "mask", None, 4)]
    assert acls.parse_spec("user:bob:,default:user::", with_perm=False) == [
        acls.Entry(False, "user", "bob"), acls.Entry(True, "user")]
    assert str(acls.Entry(True, "user", "bob", 6)) == "default:user:bob:rw-"
    for bad, message in [("user:bob:rw", "Invalid permission in <aclSpec> : user:bob:rw"),
                         ("owner:bob:rw-", "Invalid type of acl in <aclSpec> :owner:bob:rw-"),
                         ("user:bob", "Invalid <aclSpec> : user:bob"),
                         ("user:bob:rw-:x", "Invalid <aclSpec> : user:bob:rw-:x")]:
        with pytest.raises(BadRequest, match=message):
            acls.parse_spec(bad)


def test_a_named_user_makes_the_group_bits_the_mask():
    mode, text = change("MODIFYACLENTRIES", 0o750, None, "user:bob:rw-")
    assert (mode, text) == (0o770, "user:bob:rw-,group::r-x")  # mask = union of the group class
    assert [str(e) for e in acls.logical(mode, text)] == ["user::rwx", "user:bob:rw-", "group::r-x", "mask::rwx",
                                                         "other::---"]
    # An explicit mask is kept; chmod-like group bits are the mask.
    mode, text = change("MODIFYACLENTRIES", mode, text, "mask::r--")
    assert mode == 0o740 and text == "user:bob:rw-,group::r-x"
    # Removing the named user keeps a mask (recalculated, as the ACL had one), removing all gives back the group.
    assert change("REMOVEACLENTRIES", mode, text, "user:bob") == (0o750, "group::r-x")
    assert change("REMOVEACL", mode, text) == (0o750, None)


def test_set_replaces_a_scope_and_validates():
    mode, text = change("SETACL", 0o1755, None, "user::rwx,group::r--,other::---,user:ann:r-x,default:user::rwx,"
                        "default:group::r-x,default:other::---")
    assert mode == 0o1750  # sticky kept, mask r-x (union of r-- and r-x)
    assert text == "user:ann:r-x,group::r--,default:user::rwx,default:group::r-x,default:other::---"
    assert acls.status_entries(text)[0] == "user:ann:r-x"
    assert change("REMOVEDEFAULTACL", mode, text) == (0o1750, "user:ann:r-x,group::r--")
    # A default ACL missing its base entries takes them from the access ACL.
    mode, text = change("MODIFYACLENTRIES", 0o755, None, "default:user:bob:r-x")
    assert text == "default:user::rwx,default:user:bob:r-x,default:group::r-x,default:mask::r-x,default:other::r-x"
    assert mode == 0o755
    for spec, message in [("user::rwx,group::r--", "the user, group and other entries are required"),
                          ("user::rwx,group::r--,other::---,user:a:r--,user:a:rw-", "multiple entries with same"),
                          ("user::rwx,group::r--,other::---,mask:m:r--", "this entry type must not have a name: "
                                                                         "mask:m:r--."),
                          ("user::rwx,group::r--,other::---," + ",".join(f"user:u{i}:r--" for i in range(30)),
                           "ACL has 33 access entries, which exceeds maximum of 32.")]:
        with pytest.raises(AclException, match=message):
            change("SETACL", 0o755, None, spec)
    with pytest.raises(AclException, match="mask is required and cannot be deleted"):
        change("REMOVEACLENTRIES", 0o770, "user:bob:rw-,group::r-x", "mask::")
    with pytest.raises(AclException, match="only directories may have a default ACL"):
        change("MODIFYACLENTRIES", 0o644, None, "default:user:bob:r--", directory=False)


def test_a_new_child_inherits_the_default_acl():
    _, parent = change("MODIFYACLENTRIES", 0o755, None, "default:user:bob:rwx,default:mask::rwx")
    # A file created 644 (after a 022 umask) from 666: the unmasked mode is filtered by the default ACL.
    mode, text = acls.inherit(parent, 0o644, 0o666, directory=False)
    assert (mode, text) == (0o664, "user:bob:rwx,group::r-x")  # mask rw- (666), other r-- (r-x & rw-)
    mode, text = acls.inherit(parent, 0o755, None, directory=True)
    assert mode == 0o755 and text.startswith("user:bob:rwx,group::r-x,default:user::rwx")
    assert acls.inherit(None, 0o644, 0o666, directory=False) == (0o644, None)
    _, minimal_default = change("SETACL", 0o755, None, "user::rwx,group::r-x,other::r-x,default:user::rwx,"
                                "default:group::rwx,default:other::---")
    assert acls.inherit(minimal_default, 0o640, None, directory=False) == (0o640, None)


@given(st.integers(0, 0o1777), st.lists(st.sampled_from(["user:a:r--", "user:b:rwx", "group:g:-w-", "mask::r-x",
                                                           "default:user:c:r--", "other::rw-", "group::--x"]),
                                         min_size=1, max_size=5, unique=True))
def test_any_acl_survives_storage(mode, spec):
    """What the mode and the stored text hold reads back as the ACL HDFS computed, and REMOVEACL leaves none."""
    acl = acls._transform(acls.logical(mode, None), acls.parse_spec(",".join(spec)), "MODIFYACLENTRIES")
    stored_mode, text = acls._stored(acl, mode, True)
    assert acls.logical(stored_mode, text) == acl
    assert acls.change("REMOVEACL", stored_mode, text, True)[1] is None


def test_the_checker_evaluates_an_acl_in_hdfs_order():
    """Owner bits alone for the owner; a named user masked; any group entry of the caller's groups that grants; the
    other bits only for a caller no entry matched."""
    mode, text = change("SETACL", 0o000, None, "user::---,user:bob:rw-,group::r--,group:eng:-w-,mask::rw-,other::r--")
    inode = Inode(1, "FILE", mode, "alice", "staff", 0, 0, acl=text)

    def permits(user, groups, access):
        return Checker(Caller(user, frozenset(groups))).permits(inode, access)

    assert not permits("alice", ["staff"], READ)  # the owner: owner bits only, though other may read
    assert permits("bob", [], READ | WRITE)
    assert permits("carol", ["staff", "eng"], READ) and permits("carol", ["staff", "eng"], WRITE)
    assert not permits("carol", ["staff", "eng"], READ | WRITE)  # no one entry grants both
    assert not permits("dave", ["eng"], READ)  # matched eng (-w-): the other bits do not apply
    assert permits("erin", [], READ)  # nothing matched: other
    masked = Inode(1, "FILE", mode & ~0o020, "alice", "staff", 0, 0, acl=text)  # chmod g-w: the mask loses w
    assert not Checker(Caller("bob")).permits(masked, WRITE)
