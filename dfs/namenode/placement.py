"""Where new replicas go: distinct live nodes, most free space first, never a node too full for the block."""

import random

from dfs.errors import NoSpace, Unavailable


def choose_targets(candidates, count, needed_bytes, exclude=()):
    """Up to ``count`` distinct nodes from ``candidates`` with room for ``needed_bytes``, freest first.

    Nodes with nearly the same free space (within 10%) are shuffled so writes spread over a cluster of equal disks.
    """
    usable = [n for n in candidates if n.id not in exclude and n.free >= needed_bytes]
    if not usable:
        return []
    top = max(n.free for n in usable) or 1
    usable.sort(key=lambda n: (-round(10 * n.free / top), random.random()))
    return usable[:count]


def require_targets(candidates, count, minimum, needed_bytes, exclude=()):
    """At least ``minimum`` targets, or an error a client should not retry when it is space that is lacking (507),
    and one it should retry when it is datanodes (503)."""
    targets = choose_targets(candidates, count, needed_bytes, exclude)
    if len(targets) < minimum <= len([n for n in candidates if n.id not in exclude]):
        raise NoSpace(
            f"The cluster is out of space: {len(targets)} of {len(candidates)} datanode(s) have {needed_bytes} bytes"
            f" free for a block; {minimum} needed. Free space (delete files, add datanodes) and retry."
        )
    if len(targets) < minimum:
        raise Unavailable(
            f"Only {len(targets)} datanode(s) available with {needed_bytes} bytes free; {minimum} needed."
            " Failed to find datanode, suggest to check cluster health."
        )
    return targets
