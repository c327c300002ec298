"""A file's extents: on the wire (in a redirect as ``blocks=``, or a digest that names them as ``version=``), and the
one place that works out which extents, and which bytes of them, a byte range [offset, end) of the file covers.

An extent is a tuple that starts (block id, start in block, byte count, ...)."""

import hashlib

from dfs.datanode.blockstore import check_block_id
from dfs.errors import BadRequest

# Enough for a file of a few blocks; a longer extent list is named by its digest instead.
MAX_EXTENTS_IN_URL = 16


def encode(extents):
    """[(block id, start in block, byte count), ...] in file order -> 'id:start:count,...'."""
    return ",".join(f"{block_id}:{start}:{count}" for block_id, start, count, *_ in extents)


def decode(text):
    """The extents of a ``blocks=`` value, or BadRequest."""
    extents = []
    for item in text.split(",") if text else ():
        try:
            block_id, start, count = item.split(":")
            extents.append((check_block_id(block_id), int(start), int(count)))
        except ValueError:
            raise BadRequest("blocks is a comma-separated list of block:start:count") from None
    if not all(start >= 0 and count > 0 for _, start, count in extents):
        raise BadRequest("blocks is a comma-separated list of block:start:count")
    return extents


def version(extents):
    """A digest naming a file version by its extents: equal exactly when the extents are."""
    return hashlib.sha256(encode(extents).encode()).hexdigest()[:32]


def naming(extents):
    """The redirect parameters that name this file version: its extents when few, else their digest."""
    if len(extents) <= MAX_EXTENTS_IN_URL:
        return {"blocks": encode(extents)}
    return {"version": version(extents)}


def size(extents):
    return sum(count for _, _, count, *_ in extents)


def clamp(offset, length, size):
    """The end of a read of ``length`` bytes (None: all) from ``offset`` in a file of ``size`` bytes; a read with
    nothing to send ends at or before ``offset``."""
    return size if length is None else min(size, offset + length)


def cut(position, count, offset, end):
    """Where ``count`` bytes at file ``position`` meet [offset, end): (bytes skipped, bytes kept), or None."""
    first, last = max(offset, position), min(end, position + count)
    return (first - position, last - first) if last > first else None


def overlapping(extents, offset, end):
    """(extent, its file offset) for each extent holding bytes of [offset, end), in file order."""
    position = 0
    for extent in extents:
        count = extent[2]
        if position >= end:
            return
        if cut(position, count, offset, end):
            yield extent, position
        position += count


def pieces(extents, offset, end):
    """[(block id, start in block, byte count)] covering file bytes [offset, end)."""
    out = []
    for (block_id, block_start, count, *_), position in overlapping(extents, offset, end):
        skipped, kept = cut(position, count, offset, end)
        out.append((block_id, block_start + skipped, kept))
    return out
