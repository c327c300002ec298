"""A file's extents: on the wire (in a redirect as ``blocks=``, or a digest that names them as ``version=``), and the
one place that works out which extents, and which bytes of them, a byte range [offset, end) of the file covers.

An extent is a tuple that starts (block id, start in block, byte count, ...); a hole (zeros no datanode stores) has
the block id None, and is written ``-`` on the wire.

A file's BlockLocations (GETFILEBLOCKLOCATIONS) list only stored bytes: a hole is the gap between two locations, or
between the last one and the file's length (``with_gaps`` turns them back into extents)."""

import hashlib

from dfs.datanode.blockstore import check_block_id
from dfs.errors import BadRequest

# Enough for a file of a few blocks; a longer extent list is named by its digest instead.
MAX_EXTENTS_IN_URL = 16
HOLE = "-"
# The zeros of a hole go out this many bytes at a time.
ZEROS_STEP = 1 << 20


def encode(extents):
    """[(block id, start in block, byte count), ...] in file order -> 'id:start:count,...'."""
    return ",".join(f"{block_id or HOLE}:{start}:{count}" for block_id, start, count, *_ in extents)


def decode(text):
    """The extents of a ``blocks=`` value, or BadRequest."""
    extents = []
    for item in text.split(",") if text else ():
        try:
            block_id, start, count = item.split(":")
            extents.append((None if block_id == HOLE else check_block_id(block_id), int(start), int(count)))
        except ValueError:
            raise BadRequest("blocks is a comma-separated list of block:start:count") from None
    if not all(start >= 0 and count > 0 for _, start, count in extents):
        raise BadRequest("blocks is a comma-separated list of block:start:count")
    return extents


def version(extents):
    """A digest naming a file version by its extents: equal exactly when the extents are, holes side by side
    counted as one (BlockLocations, from which a datanode checks a version, show them as one gap)."""
    joined = []
    for extent in extents:
        if extent[0] is None and joined and joined[-1][0] is None:
            joined[-1] = (None, 0, joined[-1][2] + extent[2])
        else:
            joined.append(extent)
    return hashlib.sha256(encode(joined).encode()).hexdigest()[:32]


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


def with_gaps(locations, length):
    """[(block id, start in block, byte count, location)] of a file of ``length`` bytes from its BlockLocations (in
    file order, from the first one a range needs), each gap between them a hole (no block id, no location)."""
    out, position = [], 0
    for loc in locations:
        if loc["offset"] > position:
            out.append((None, 0, loc["offset"] - position, None))
        out.append((loc["blockId"], loc["blockOffset"], loc["length"], loc))
        position = loc["offset"] + loc["length"]
    if length > position:
        out.append((None, 0, length - position, None))
    return out


def encode_holes(holes):
    """[(file offset, byte count)] -> 'offset:count,...' (CREATE's ``holes=``, a dfs extension)."""
    return ",".join(f"{offset}:{count}" for offset, count in holes)


def decode_holes(text):
    """The holes of a ``holes=`` value, in order and apart, or BadRequest."""
    holes, end = [], 0
    try:
        for item in text.split(",") if text else ():
            offset, count = (int(n) for n in item.split(":"))
            if offset < end or count <= 0:
                raise ValueError
            holes.append((offset, count))
            end = offset + count
    except ValueError:
        raise BadRequest("holes is a comma-separated list of offset:count, in order and apart") from None
    return holes


def with_holes(extents, holes, hole):
    """The extents (namespace.model.Extent) of a file whose stored bytes are ``extents`` (in order, as uploaded)
    and whose ``holes`` are [(file offset, byte count)] (in order, apart): each hole, ``hole(count)``, goes in at
    its offset, cutting the extent there."""
    out, position, data = [], 0, iter(extents)
    pending = next(data, None)
    for offset, count in holes:
        while position < offset and pending is not None:  # stored bytes up to the hole
            kept = min(pending.length, offset - position)
            out.append(pending._replace(length=kept))
            position += kept
            if kept < pending.length:
                pending = pending._replace(block_offset=pending.block_offset + kept, length=pending.length - kept)
            else:
                pending = next(data, None)
        if position < offset:
            raise BadRequest(f"a hole at {offset} starts past the end of the data")
        out.append(hole(count))
        position += count
    while pending is not None:
        out.append(pending)
        pending = next(data, None)
    return out


def zeros(count):
    """The ``count`` zero bytes of a hole, ZEROS_STEP at a time."""
    while count > 0:
        step = min(count, ZEROS_STEP)
        yield bytes(step)
        count -= step
