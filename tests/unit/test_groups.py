"""Group mappings (dfs.namenode.groups): the groups file's format, the host's groups, the cache's time to live."""

import grp
import os
import pwd

import pytest
from twisted.internet.task import Clock

from dfs.namenode.groups import CachedGroups, GroupsFile, HostGroups, group_mapping, parse_groups_file


def test_groups_file_lines():
    text = """
# user: primary group, then the others
alice: alice staff   # trailing comment
bob:bob staff staff
  carol :
hdfs: supergroup
"""
    assert parse_groups_file(text) == {"alice": ("alice", "staff"), "bob": ("bob", "staff"), "carol": (),
                                       "hdfs": ("supergroup",)}


@pytest.mark.parametrize("text, error", [
    ("alice staff", r"^groups file:1: not a `user: group1 group2` line: 'alice staff'$"),
    ("\n: staff", r"^groups file:2: not a `user: group1 group2` line: ': staff'$"),
    ("al ice: staff", r"^groups file:1: not a `user: group1 group2` line"),
    ("alice: a\nalice: b", r"^groups file:2: alice is listed twice$"),
])
def test_groups_file_errors_name_the_line(text, error):
    with pytest.raises(ValueError, match=error):
        parse_groups_file(text)


def test_groups_file_is_read_again_when_it_changes(tmp_path):
    path = tmp_path / "groups"
    path.write_text("alice: staff\n")
    mapping = GroupsFile(str(path))
    assert mapping.groups("alice") == ("staff",)
    assert mapping.groups("bob") == ()
    path.write_text("alice: staff admins\nbob: bob\n")
    os.utime(path, ns=(0, 10**9))  # a different mtime even on a coarse clock
    assert mapping.groups("alice") == ("staff", "admins")
    assert mapping.groups("bob") == ("bob",)


def test_host_groups_primary_first():
    me = pwd.getpwuid(os.getuid())
    groups = HostGroups().groups(me.pw_name)
    assert groups[0] == grp.getgrgid(me.pw_gid).gr_name
    assert len(groups) == len(set(groups))
    assert HostGroups().groups("no-such-user-on-this-host") == ()


class Counting:
    def __init__(self):
        self.asked = []

    def groups(self, user):
        self.asked.append(user)
        return [f"{user}-{len(self.asked)}"]


def test_cache_keeps_answers_for_the_ttl():
    clock, mapping = Clock(), Counting()
    cache = CachedGroups(mapping, clock, ttl=60)
    assert cache.groups("alice") == ("alice-1",)
    clock.advance(59)
    assert cache.groups("alice") == ("alice-1",)
    clock.advance(1)
    assert cache.groups("alice") == ("alice-2",)
    assert mapping.asked == ["alice", "alice"]
    cache.forget()
    assert cache.groups("alice") == ("alice-3",)


def test_cache_is_bounded_oldest_out():
    clock, mapping = Clock(), Counting()
    cache = CachedGroups(mapping, clock, ttl=60, size=2)
    for user in ("a", "b", "c"):
        cache.groups(user)
    cache.groups("c")
    cache.groups("a")  # dropped when c came in: asked again
    assert mapping.asked == ["a", "b", "c", "a"]


def test_group_mapping_chooses_the_file_when_given(tmp_path):
    path = tmp_path / "groups"
    path.write_text("alice: staff\n")
    assert group_mapping(Clock(), str(path)).groups("alice") == ("staff",)
    assert isinstance(group_mapping(Clock()).mapping, HostGroups)


def test_a_groups_file_broken_later_keeps_the_last_good_one(tmp_path):
    """Removed or badly edited while the namenode runs, the file used to make every request of a user not yet
    cached fail with a bare 500; the last good version stays in force (at start a bad file still refuses)."""
    path = tmp_path / "groups"
    path.write_text("alice: staff\n")
    mapping = GroupsFile(str(path))
    path.write_text("alice staff\nbob: eng\n")  # no colon: malformed
    assert mapping.groups("alice") == ("staff",) and mapping.groups("bob") == ()
    path.unlink()
    assert mapping.groups("alice") == ("staff",)
    path.write_text("bob: eng\n")
    assert mapping.groups("bob") == ("eng",) and mapping.groups("alice") == ()
    with pytest.raises(OSError):
        GroupsFile(str(tmp_path / "missing"))
