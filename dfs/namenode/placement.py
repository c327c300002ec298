"""Where new replicas go, and which extra ones go: distinct live nodes spread over racks as HDFS spreads them, most
free space first, never a node too full for the block."""

import random
from collections import Counter

from dfs.errors import NoSpace, Unavailable


def choose_targets(candidates, count, needed_bytes, exclude=(), placed=(), writer=None):
    """Up to ``count`` distinct nodes from ``candidates`` with room for ``needed_bytes``, beside the replicas
    ``placed`` already holds.

    HDFS's default rule: a block's first replica on the writer's own datanode (a node whose host is ``writer``, the
    client's address), the second on another rack, the third on the second's rack (a rack switch crossed once), any
    more freest first; a copy made by repair joins the replicas ``placed`` by the same rule. Within that, nodes with
    nearly the same free space (within 10%) are shuffled so writes spread over a cluster of equal disks.
    """
    usable = [n for n in candidates if n.id not in exclude and n.free >= needed_bytes]
    if not usable:
        return []
    top = max(n.free for n in usable) or 1
    usable.sort(key=lambda n: (-round(10 * n.free / top), random.random()))
    placed, chosen = list(placed), []
    while usable and len(chosen) < count:
        node = _next_target(usable, placed, writer)
        usable.remove(node)
        chosen.append(node)
        placed.append(node)
    return chosen


def _next_target(ranked, placed, writer):
    """The best of ``ranked`` (freest first) to join the replicas ``placed``."""
    if not placed:
        return next((n for n in ranked if writer is not None and n.host == writer), ranked[0])
    racks = Counter(n.rack for n in placed)
    if len(racks) == 1:
        return next((n for n in ranked if n.rack not in racks), ranked[0])
    for latest in reversed(placed):  # two racks hold it already: stay in a rack holding one copy, the latest's first
        if racks[latest.rack] == 1:
            same = next((n for n in ranked if n.rack == latest.rack), None)
            if same is not None:
                return same
    return ranked[0]


def surplus(holders, count):
    """The ``count`` replicas of ``holders`` to delete: from racks holding more than one copy, so the rest keep every
    rack they can, the fullest node first."""
    left, dropped = list(holders), []
    for _ in range(min(count, len(left))):
        racks = Counter(n.rack for n in left)
        node = min([n for n in left if racks[n.rack] > 1] or left, key=lambda n: n.free)
        left.remove(node)
        dropped.append(node)
    return dropped


def require_targets(candidates, count, minimum, needed_bytes, exclude=(), writer=None):
    """At least ``minimum`` targets, or an error a client should not retry when it is space that is lacking (507),
    and one it should retry when it is datanodes (503)."""
    targets = choose_targets(candidates, count, needed_bytes, exclude, writer=writer)
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
