"""Per-chunk CRC32C checksums of a block: made as it is stored, checked before any byte of a chunk is used.

The checksums of a block travel as one byte string (``encode``): the magic ``dfsc``, the chunk size as a
big-endian uint32, then one big-endian uint32 CRC32C per chunk, the last chunk possibly short.
"""

import struct

from crc32c import crc32c

CHUNK_SIZE = 64 * 1024
MAGIC = b"dfsc"
_HEADER = struct.Struct(">4sI")
HEADER_SIZE = _HEADER.size
SUM_SIZE = 4


def sums_of(data):
    """The CRC32C of each chunk of ``data``."""
    view = memoryview(data)
    return [crc32c(view[i:i + CHUNK_SIZE]) for i in range(0, len(view), CHUNK_SIZE)]


class Summer:
    """The chunk checksums of a stream that arrives in pieces of any size."""

    def __init__(self):
        self.sums = []
        self._crc = 0
        self._filled = 0

    def update(self, data):
        view = memoryview(data)
        while view:
            take = min(len(view), CHUNK_SIZE - self._filled)
            self._crc = crc32c(view[:take], self._crc)
            self._filled += take
            view = view[take:]
            if self._filled == CHUNK_SIZE:
                self.sums.append(self._crc)
                self._crc, self._filled = 0, 0

    def result(self):
        return self.sums + [self._crc] if self._filled else list(self.sums)


def encode(sums):
    return _HEADER.pack(MAGIC, CHUNK_SIZE) + struct.pack(f">{len(sums)}I", *sums)


def decode(data):
    """The checksums in ``encode``'s form, or ValueError."""
    if len(data) < HEADER_SIZE or (len(data) - HEADER_SIZE) % SUM_SIZE:
        raise ValueError("chunk checksums have a bad length")
    magic, chunk_size = _HEADER.unpack_from(data)
    if magic != MAGIC or chunk_size != CHUNK_SIZE:
        raise ValueError("chunk checksums in an unknown format")
    return list(struct.unpack_from(f">{(len(data) - HEADER_SIZE) // SUM_SIZE}I", data, HEADER_SIZE))


def aligned(start, count, block_size):
    """The chunk-aligned span [first byte, end) and first chunk index that cover [start, start+count)."""
    first = start // CHUNK_SIZE
    end = min(block_size, -(-(start + count) // CHUNK_SIZE) * CHUNK_SIZE)
    return first * CHUNK_SIZE, end, first


def first_bad(data, first_chunk, sums):
    """The index of the first chunk of ``data`` (which starts at chunk ``first_chunk``) whose CRC32C differs
    from ``sums``, or None when all match."""
    for i, crc in enumerate(sums_of(data)):
        if first_chunk + i >= len(sums) or sums[first_chunk + i] != crc:
            return first_chunk + i
    return None
