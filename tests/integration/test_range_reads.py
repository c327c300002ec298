"""Random small reads move only the 64 KiB chunks they touch from the datanodes (each chunk is checked on its
own), never whole blocks, and one request each: the Python client reading with offset and length."""

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
