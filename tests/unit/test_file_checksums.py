"""The namenode's side of GETFILECHECKSUM (dfs.namenode.checksums): one MD5 per extent from a holder, the next
holder when one fails, and one answer per file version."""

from collections import namedtuple

import pytest
import pytest_twisted
from twisted.internet import defer

from dfs.errors import IOFailure
from dfs.hadoop_checksum import file_checksum, of_zeros
from dfs.namenode.checksums import FileChecksums
from dfs.peers import DatanodeClient

Ext = namedtuple("Ext", "block_id block_offset length")
Node = namedtuple("Node", "id url")
A, B = "a" * 64, "b" * 64
BLOCK = 4096


class Response:
    def __init__(self, code, body):
        self.code, self.body = code, body

    def json(self):
        return defer.succeed(self.body)


class Datanodes:
    """Stands in for the HTTP client: each node answers for the blocks it has, or fails."""

    def __init__(self, broken=()):
        self.broken = set(broken)
        self.asked = []

    def request(self, method, url, headers, params):
        node, _, rest = url.partition("/blocks/")
        block_id = rest.split("/")[0]
        self.asked.append((node, block_id, params["start"], params["count"]))
        if node in self.broken:
            return defer.succeed(Response(500, {"RemoteException": {"message": "chunk failed"}}))
        md5 = (block_id[0] * 32)[:32]
        return defer.succeed(Response(200, {"md5": md5, "chunks": -(-params["count"] // 512)}))


class Registry:
    def holders(self, block_id):
        return [Node("n1", "http://n1"), Node("n2", "http://n2")]


def expected(extents):
    return file_checksum([(bytes.fromhex(e.block_id[0] * 32), -(-e.length // 512)) for e in extents])


@pytest_twisted.ensureDeferred
async def test_each_extent_is_asked_once_and_the_version_is_kept():
    http = Datanodes()
    checksums = FileChecksums(DatanodeClient(http), Registry())
    extents = [Ext(A, 0, 2048), Ext(B, 100, 904)]
    assert await checksums.of(extents, BLOCK) == expected(extents)
    assert sorted(http.asked) == [("http://n1", A, 0, 2048), ("http://n1", B, 100, 904)]
    assert await checksums.of(list(extents), BLOCK) == expected(extents)
    assert len(http.asked) == 2  # the same version again: no datanode asked
    await checksums.of([Ext(A, 0, 1000)], BLOCK)
    assert len(http.asked) == 3


@pytest_twisted.ensureDeferred
async def test_a_failing_holder_is_followed_by_the_next():
    http = Datanodes(broken={"http://n1"})
    extents = [Ext(A, 0, 700)]
    assert await FileChecksums(DatanodeClient(http), Registry()).of(extents, BLOCK) == expected(extents)
    assert [node for node, *_ in http.asked] == ["http://n1", "http://n2"]


@pytest_twisted.ensureDeferred
async def test_no_holder_answering_is_an_error_that_names_the_block():
    http = Datanodes(broken={"http://n1", "http://n2"})
    with pytest.raises(IOFailure, match=f"no replica of block {A} could be checksummed: n1: .*chunk failed"):
        await FileChecksums(DatanodeClient(http), Registry()).of([Ext(A, 0, 700)], BLOCK)


@pytest_twisted.ensureDeferred
async def test_the_least_recently_asked_version_is_forgotten_first():
    http = Datanodes()
    checksums = FileChecksums(DatanodeClient(http), Registry(), cached=2)
    one, two, three = [Ext(A, 0, 10)], [Ext(A, 0, 20)], [Ext(A, 0, 30)]
    for extents in (one, two, one, three, one, two):
        await checksums.of(extents, BLOCK)
    assert [count for *_, count in http.asked] == [10, 20, 30, 20]


@pytest_twisted.ensureDeferred
async def test_a_hole_is_checksummed_here_in_the_blocks_a_dense_file_would_have():
    """Blocks of 4096 bytes: 2048 stored bytes, a hole to 9000, 100 stored bytes. Written densely, the file's blocks
    would be [data + 2048 zeros], [4096 zeros], [808 zeros + data]: the hole's pieces end where they would."""
    http = Datanodes()
    extents = [Ext(A, 0, 2048), Ext(None, 0, 1000), Ext(None, 0, 9000 - 3048), Ext(B, 0, 100)]  # two holes, as one
    got = await FileChecksums(DatanodeClient(http), Registry()).of(extents, BLOCK)
    pieces = [Ext(A, 0, 2048), Ext(None, 0, 2048), Ext(None, 0, 4096), Ext(None, 0, 808), Ext(B, 0, 100)]
    assert got == file_checksum([of_zeros(e.length) if e.block_id is None else
                                 (bytes.fromhex(e.block_id[0] * 32), -(-e.length // 512)) for e in pieces])
    assert sorted(block for _, block, *_ in http.asked) == [A, B]  # no datanode asked about the hole
