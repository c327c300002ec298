"""Which groups a user belongs to, for the permission checks: the namenode host's groups, or a groups file, behind a
small cache with a time to live (HDFS's hadoop.security.group.mapping and its cache)."""

import grp
import os
import pwd
from collections import OrderedDict

from dfs.namenode.userfile import WatchedFile, user_lines

DEFAULT_TTL = 300.0  # seconds: HDFS's hadoop.security.groups.cache.secs default
DEFAULT_CACHED_USERS = 4096


class HostGroups:
    """The groups the namenode's host gives a user (pwd and grp: the primary group, then the supplementary ones);
    none for a user the host does not know. A gid with no name counts as its number."""

    def groups(self, user):
        try:
            primary = pwd.getpwnam(user).pw_gid
        except KeyError:
            return ()
        return tuple(dict.fromkeys(_group_name(gid) for gid in [primary, *os.getgrouplist(user, primary)]))


def _group_name(gid):
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


class GroupsFile:
    """Groups from a file of ``user: group1 group2`` lines (the first group is the user's primary one); blank lines
    and ``#`` comments are ignored; a user not in the file has no groups. The file is read again when it changes."""

    def __init__(self, path):
        self.path = path
        self._file = WatchedFile(path, parse_groups_file)

    def groups(self, user):
        return self._file.read().get(user, ())


def parse_groups_file(text, source="groups file"):
    """``{user: (group, ...)}`` from the text of a groups file; ValueError naming the line of a malformed one."""
    return {user: tuple(dict.fromkeys(groups.split()))
            for _, user, groups in user_lines(text, source, "user: group1 group2")}


class CachedGroups:
    """A mapping's answers kept ``ttl`` seconds (``clock`` is an IReactorTime), at most ``size`` users, so a burst
    of requests asks the host or the file once. Asking the host may block (NSS, LDAP): call it off the reactor."""

    def __init__(self, mapping, clock, ttl=DEFAULT_TTL, size=DEFAULT_CACHED_USERS):
        self.mapping = mapping
        self.clock = clock
        self.ttl = ttl
        self.size = size
        self._cache = OrderedDict()  # user -> (expires, groups), oldest first

    def groups(self, user):
        cached = self.cached(user)
        if cached is not None:
            return cached
        now = self.clock.seconds()
        groups = tuple(self.mapping.groups(user))
        self._cache.pop(user, None)
        self._cache[user] = (now + self.ttl, groups)
        while len(self._cache) > self.size:
            self._cache.popitem(last=False)
        return groups

    def cached(self, user):
        """The groups of ``user`` while they are cached, else None: never asks the mapping (safe on the reactor)."""
        cached = self._cache.get(user)
        if cached is not None and self.clock.seconds() < cached[0]:
            return cached[1]
        return None

    def forget(self):
        """Drop every cached answer (HDFS's ``-refreshUserToGroupsMappings``)."""
        self._cache.clear()


def group_mapping(clock, groups_file=None, ttl=DEFAULT_TTL):
    """The namenode's mapping: ``groups_file`` when given, else the host's groups; cached."""
    return CachedGroups(GroupsFile(groups_file) if groups_file else HostGroups(), clock, ttl)
