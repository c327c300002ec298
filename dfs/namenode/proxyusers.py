"""Who may act for whom (HDFS's proxy users, hadoop.proxyuser.<user>.users/.groups/.hosts): a WebHDFS request
with ``doas=bob`` from a real user allowed to impersonate bob acts as bob."""

import ipaddress
from typing import NamedTuple

from dfs.errors import AuthorizationException
from dfs.namenode.userfile import WatchedFile, user_lines

ANY = "*"


class Rule(NamedTuple):
    """What one real user may do: impersonate the ``users`` named, or members of the ``groups`` named, from the
    ``hosts`` (addresses or networks) named; ``*`` for any."""

    users: frozenset
    groups: frozenset
    hosts: tuple  # ipaddress networks, or (ANY,)

    def allows_user(self, user, groups):
        return ANY in self.users or user in self.users or ANY in self.groups or bool(self.groups & set(groups))

    def allows_host(self, ip):
        if ANY in self.hosts:
            return True
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(address in network for network in self.hosts)

    @property
    def anyone(self):
        """Whether the real user may act for every user (the superuser included)."""
        return ANY in self.users or ANY in self.groups


def parse_proxy_users(text, source="proxy users file"):
    """``{real user: Rule}`` from lines ``alice: users=bob,carol groups=staff hosts=127.0.0.1,10.0.0.0/8``;
    ValueError naming the line of a malformed one. ``hosts`` left out means any host."""
    table = {}
    for number, user, rest in user_lines(text, source, "user: users=... groups=... hosts=..."):
        fields = {"users": "", "groups": "", "hosts": ANY}
        for item in rest.split():
            key, equals, value = item.partition("=")
            if not equals or key not in fields:
                raise ValueError(f"{source}:{number}: {item!r} is not users=, groups= or hosts=")
            fields[key] = value
        try:
            hosts = tuple(ANY if h == ANY else ipaddress.ip_network(h, strict=False)
                          for h in fields["hosts"].split(",") if h)
        except ValueError as e:
            raise ValueError(f"{source}:{number}: {e}") from None
        table[user] = Rule(frozenset(filter(None, fields["users"].split(","))),
                           frozenset(filter(None, fields["groups"].split(","))), hosts)
    return table


class ProxyUsers:
    """The namenode's proxy users (``--proxy-users FILE``, read again when it changes; no file: nobody may
    impersonate)."""

    def __init__(self, path=None):
        self._file = WatchedFile(path, parse_proxy_users) if path else None

    def rule(self, real_user):
        return None if self._file is None else self._file.read().get(real_user)

    def authorize(self, real_user, user, groups, ip):
        """The Rule that lets ``real_user`` act for ``user`` (whose groups are ``groups``) from ``ip``, else
        AuthorizationException with HDFS's text."""
        rule = self.rule(real_user)
        if rule is None or not rule.allows_user(user, groups):
            raise AuthorizationException(f"User: {real_user} is not allowed to impersonate {user}")
        if not rule.allows_host(ip):
            raise AuthorizationException(f"Unauthorized connection for super-user: {real_user} from IP {ip}")
        return rule
