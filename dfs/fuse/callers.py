"""Who called the mount: the uid, gid and pid the kernel gives with each request, as the user and groups the
namenode checks (names on the mount's host; a number with no name stays a number)."""

import grp
import pwd
from functools import lru_cache
from typing import NamedTuple, Optional


class Identity(NamedTuple):
    user: str
    groups: tuple  # the primary group first


@lru_cache(maxsize=4096)
def local_name(number, by_id):
    """The name dfs stores for a local uid or gid (``by_id`` is pwd.getpwuid or grp.getgrgid), else the number.
    Cached: every request of a caller asks, and the host's databases may be slow (NSS, LDAP)."""
    try:
        return by_id(number)[0]
    except KeyError:
        return str(number)


def supplementary_gids(pid):
    """The supplementary groups of process ``pid`` (the ``Groups:`` line of /proc/PID/status); none when it is
    gone or unknown (pid 0: a request the kernel makes on its own)."""
    if pid <= 0:
        return ()
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("Groups:"):
                    return tuple(int(gid) for gid in line.split()[1:])
    except (OSError, ValueError):
        pass
    return ()


def identity(uid, gid, pid) -> Optional[Identity]:
    """Whom a request from ``uid``/``gid``/``pid`` acts for; None for root, who acts as the mount's own user (make
    that the namenode's superuser)."""
    if uid == 0:
        return None
    gids = dict.fromkeys((gid, *supplementary_gids(pid)))
    return Identity(local_name(uid, pwd.getpwuid), tuple(local_name(g, grp.getgrgid) for g in gids))
