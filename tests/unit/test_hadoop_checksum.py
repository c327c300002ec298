"""HDFS's MD5-of-MD5-of-CRC32C file checksum (dfs.hadoop_checksum), against vectors worked out from its definition."""

import hashlib
import struct

from crc32c import crc32c
from hypothesis import given
from hypothesis import strategies as st

from dfs.hadoop_checksum import BYTES_PER_CRC, BlockDigest, file_checksum, of_blocks, of_zeros

# CRC32C's standard check value: the CRC32C of b"123456789".
CHECK_CRC = 0xE3069283


def test_one_short_block_by_hand():
    block_md5 = hashlib.md5(struct.pack(">I", CHECK_CRC)).digest()
    # One block's MD5 is 16 bytes of Hadoop's 32-byte buffer; the file MD5 covers all 32.
    file_md5 = hashlib.md5(block_md5 + bytes(16)).digest()
    name, raw = of_blocks([b"123456789"])
    assert name == "MD5-of-0MD5-of-512CRC32C"
    assert raw == bytes.fromhex("00000200" "0000000000000000") + file_md5 and len(raw) == 28


def test_three_blocks_by_hand():
    """crcPerBlock is the first block's chunk count once there are several; 48 bytes of MD5s fill a 64-byte buffer."""
    blocks = [b"123456789" * 120, b"123456789", b"x" * BYTES_PER_CRC]
    first = b"".join(struct.pack(">I", crc32c(blocks[0][i:i + 512])) for i in (0, 512, 1024))
    md5s = [hashlib.md5(first).digest(), hashlib.md5(struct.pack(">I", CHECK_CRC)).digest(),
            hashlib.md5(struct.pack(">I", crc32c(blocks[2]))).digest()]
    name, raw = of_blocks(blocks)
    assert name == "MD5-of-3MD5-of-512CRC32C"
    assert raw == struct.pack(">iq", 512, 3) + hashlib.md5(b"".join(md5s) + bytes(16)).digest()


def test_empty_file_is_what_hdfs_answers():
    assert of_blocks([]) == ("MD5-of-0MD5-of-0CRC32", bytes(12) + bytes.fromhex("70bc8f4b72a86921468bf8e8441dce51"))


def _digest(pieces):
    digest = BlockDigest()
    for piece in pieces:
        digest.update(piece)
    return digest.digest(), digest.chunks


@given(st.binary(max_size=5000), st.lists(st.integers(min_value=0, max_value=5000), max_size=6))
def test_a_block_fed_in_any_pieces_has_one_digest(data, cuts):
    edges = [0, *sorted(c % (len(data) + 1) for c in cuts), len(data)]
    pieces = [data[a:b] for a, b in zip(edges, edges[1:])]
    md5, chunks = _digest(pieces)
    assert (md5, chunks) == _digest([data])
    assert chunks == -(-len(data) // BYTES_PER_CRC)


@given(st.binary(min_size=1, max_size=6000), st.lists(st.integers(min_value=1, max_value=6000), max_size=5))
def test_splitting_at_block_boundaries_gives_each_blocks_own_digest(data, cuts):
    edges = sorted({0, len(data), *(c % len(data) for c in cuts)})
    blocks = [data[a:b] for a, b in zip(edges, edges[1:])]
    digests = [_digest([block]) for block in blocks]
    assert of_blocks(blocks) == file_checksum(digests)
    # The same bytes cut into chunk-aligned blocks: each block's MD5 covers exactly its own chunks.
    aligned = [data[i:i + 2 * BYTES_PER_CRC] for i in range(0, len(data), 2 * BYTES_PER_CRC)]
    crcs = [struct.pack(">I", crc32c(data[i:i + BYTES_PER_CRC]))
            for i in range(0, len(data), BYTES_PER_CRC)]
    assert [md5 for md5, _ in (_digest([b]) for b in aligned)] == [
        hashlib.md5(b"".join(crcs[i:i + 2])).digest() for i in range(0, len(crcs), 2)]


@given(st.integers(0, 5000))
def test_zeros_have_the_digest_of_a_block_of_zeros(count):
    digest = BlockDigest()
    digest.update(bytes(count))
    assert of_zeros(count) == (digest.digest(), digest.chunks)
