"""HDFS's file checksum, MD5-of-MD5-of-CRC32C: the form Hadoop's clients read from GETFILECHECKSUM.

As HDFS computes it (FileChecksumHelper, BlockChecksumHelper, MD5MD5CRC32FileChecksum in Hadoop's source): a block's
checksum is the MD5 of the big-endian CRC32C of each ``BYTES_PER_CRC``-byte chunk of its bytes, the last chunk
possibly short. The file's is the MD5 of its blocks' MD5s as Hadoop's DataOutputBuffer holds them, that is followed
by zeros up to the buffer's capacity (32 bytes, doubled until they fit). The result is serialised as bytesPerCRC
(int), crcPerBlock (long: the first block's chunk count when there are several blocks, else 0) and the 16-byte MD5.
"""

import hashlib
import struct
from functools import lru_cache

from crc32c import crc32c

BYTES_PER_CRC = 512
# The initial capacity of Hadoop's DataOutputBuffer, which the file's MD5 covers in full.
_BUFFER_CAPACITY = 32
_HEADER = struct.Struct(">iq")


class BlockDigest:
    """The MD5 of the chunk CRCs of one block, whose bytes arrive in pieces of any size."""

    def __init__(self):
        self.chunks = 0
        self._md5 = hashlib.md5()
        self._crc = 0
        self._filled = 0

    def update(self, data):
        view = memoryview(data)
        while view:
            if self._filled == 0 and len(view) >= BYTES_PER_CRC:
                whole = len(view) - len(view) % BYTES_PER_CRC
                crcs = [crc32c(view[i:i + BYTES_PER_CRC]) for i in range(0, whole, BYTES_PER_CRC)]
                self._md5.update(struct.pack(f">{len(crcs)}I", *crcs))
                self.chunks += len(crcs)
                view = view[whole:]
                continue
            take = min(len(view), BYTES_PER_CRC - self._filled)
            self._crc = crc32c(view[:take], self._crc)
            self._filled += take
            view = view[take:]
            if self._filled == BYTES_PER_CRC:
                self._end_chunk()

    def _end_chunk(self):
        self._md5.update(struct.pack(">I", self._crc))
        self.chunks += 1
        self._crc, self._filled = 0, 0

    def digest(self):
        """The block's MD5 (call once, after the last byte)."""
        if self._filled:
            self._end_chunk()
        return self._md5.digest()


@lru_cache(maxsize=64)
def of_zeros(count):
    """(MD5, chunk count) of ``count`` zero bytes as a block (a hole's), without building them: a sparse file's
    holes are hundreds of GiB, and mostly of one length (the block size)."""
    whole, rest = divmod(count, BYTES_PER_CRC)
    md5 = hashlib.md5(struct.pack(">I", crc32c(bytes(BYTES_PER_CRC))) * whole)
    if rest:
        md5.update(struct.pack(">I", crc32c(bytes(rest))))
    return md5.digest(), whole + bool(rest)


def file_checksum(blocks):
    """(algorithm name, serialised checksum) of a file whose blocks have these (MD5, chunk count) pairs, in order."""
    if not blocks:
        # What HDFS answers for an empty file: the MD5 of an empty buffer, under the CRC32 name.
        return "MD5-of-0MD5-of-0CRC32", _HEADER.pack(0, 0) + hashlib.md5(bytes(_BUFFER_CAPACITY)).digest()
    crc_per_block = blocks[0][1] if len(blocks) > 1 else 0
    held = b"".join(md5 for md5, _ in blocks)
    capacity = _BUFFER_CAPACITY
    while capacity < len(held):
        capacity *= 2
    md5 = hashlib.md5(held.ljust(capacity, b"\0")).digest()
    return f"MD5-of-{crc_per_block}MD5-of-{BYTES_PER_CRC}CRC32C", _HEADER.pack(BYTES_PER_CRC, crc_per_block) + md5


def of_blocks(blocks):
    """``file_checksum`` of a file held locally as the byte strings of its blocks."""
    digests = []
    for data in blocks:
        digest = BlockDigest()
        digest.update(data)
        digests.append((digest.digest(), digest.chunks))
    return file_checksum(digests)
