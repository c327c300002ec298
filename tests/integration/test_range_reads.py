"""Random small reads move only the 64 KiB chunks they touch from the datanodes (each chunk is checked on its
own), never whole blocks, and one request each: the Python client reading with offset and length, and a reader
open on a file, which asks the namenode where the blocks are once."""

import hashlib
import os
import random

import pytest
import pytest_twisted
from twisted.internet import reactor

from dfs import chunks
from dfs.client import Client
from dfs.http import make_http

BLOCK = 8 << 20
SIZE = 3 * BLOCK + 12345
READ = 4096


def chunk_span(offset, count):
    """Bytes of the whole chunks a read of [offset, offset+count) touches, block by block."""
    total = 0
    while count > 0:
        within = offset % BLOCK
        take = min(count, BLOCK - within)
        first, end, _ = chunks.aligned(within, take, min(BLOCK, SIZE - (offset - within)))
        total += end - first
        offset, count = offset + take, count - take
    return total


@pytest.fixture
def small_cluster(make_cluster):
    return make_cluster(datanodes=1, namenode_args=["--replication", "1", "--min-replicas", "1"])


@pytest.fixture
def client(small_cluster):
    http, pool = make_http(reactor)
    yield Client(http, small_cluster.url, reactor=reactor)
    pytest_twisted.blockon(pool.closeCachedConnections())


@pytest_twisted.ensureDeferred
async def test_random_4_kib_reads_move_only_their_chunks(small_cluster, client):
    data = os.urandom(SIZE)
    await client.write("/big.bin", data, block_size=BLOCK)
    rng = random.Random(24)
    offsets = [rng.randrange(SIZE - READ) for _ in range(40)] + [BLOCK - 100, 2 * BLOCK - READ]
    before = small_cluster.datanode_total("dfs_read_bytes_total")
    sums_before = small_cluster.datanode_total("dfs_http_requests_total", op="block_checksums")
    for offset in offsets:
        assert await client.read("/big.bin", offset, READ) == data[offset:offset + READ], offset
    moved = small_cluster.datanode_total("dfs_read_bytes_total") - before
    assert 0 < moved <= sum(chunk_span(offset, READ) for offset in offsets)
    # A block's checksums never change: the client asks for them once a block, not once a read (a round trip).
    sums = small_cluster.datanode_total("dfs_http_requests_total", op="block_checksums") - sums_before
    assert sums == len({block for offset in offsets for block in (offset // BLOCK, (offset + READ - 1) // BLOCK)})


def located(cluster):
    """How many GETFILEBLOCKLOCATIONS the namenode has answered."""
    return cluster.namenode_total("dfs_http_requests_total", op="GETFILEBLOCKLOCATIONS")


@pytest_twisted.ensureDeferred
async def test_an_open_reader_asks_the_namenode_once_for_many_reads(small_cluster, client):
    data = os.urandom(SIZE)
    await client.write("/open.bin", data, block_size=BLOCK)
    rng = random.Random(7)
    offsets = [rng.randrange(SIZE - READ) for _ in range(30)] + [BLOCK - 100]
    before = located(small_cluster)
    reader = await client.open("/open.bin")
    assert reader.length == SIZE
    for offset in offsets:
        assert await reader.read(offset, READ) == data[offset:offset + READ], offset
    assert located(small_cluster) - before == 1
    before = located(small_cluster)
    for offset in offsets[:3]:  # a read of its own asks each time
        assert await client.read("/open.bin", offset, READ) == data[offset:offset + READ], offset
    assert located(small_cluster) - before == 3


@pytest_twisted.ensureDeferred
async def test_a_file_overwritten_between_two_reads_gives_the_new_bytes(small_cluster, client):
    """A reader keeps the version it opened (never a mix); a new one, and a read of its own, see the new bytes;
    and once the old version's blocks are gone from the datanodes, the old reader locates the file again."""
    old, new = os.urandom(3 * chunks.CHUNK_SIZE), os.urandom(3 * chunks.CHUNK_SIZE)
    await client.write("/over.bin", old)
    reader = await client.open("/over.bin")
    assert await reader.read(0, READ) == old[:READ]
    await client.write("/over.bin", new, overwrite=True)
    assert await client.read("/over.bin", 0, READ) == new[:READ]
    assert await (await client.open("/over.bin")).read(0, READ) == new[:READ]
    assert await reader.read(READ, READ) == old[READ:2 * READ]
    os.unlink(small_cluster.block_files(0)[hashlib.sha256(old).hexdigest()])  # as GC does after its grace
    assert await reader.read(2 * chunks.CHUNK_SIZE, READ) == new[2 * chunks.CHUNK_SIZE:2 * chunks.CHUNK_SIZE + READ]
