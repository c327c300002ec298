"""No unverified byte leaves a datanode: a byte flipped on disk (mtime kept) is caught by the chunk checksums on
every read path, the replica is quarantined, and the namenode restores the replica count."""

import io
import os
import time

import pytest_twisted
import requests
from files import flip_byte, sha256_of
from twisted.internet import reactor

from dfs import chunks
from dfs.client import Client
from dfs.http import make_http

H = {"Content-Type": "application/octet-stream"}
C = chunks.CHUNK_SIZE




def holders(cluster, path):
    r = requests.get(cluster.url + "/webhdfs/v1" + path, params={"op": "GETFILEBLOCKLOCATIONS"}, timeout=10)
    [location] = r.json()["BlockLocations"]["BlockLocation"]
    return location["blockId"], location["internalUrls"]


def healthy(cluster, path, replicas):
    """Whether the file's block has ``replicas`` holders, each with a copy whose bytes hash to the block id."""
    block_id, urls = holders(cluster, path)
    copies = [cluster.block_files(index_of(cluster, url)).get(block_id) for url in urls]
    return len(urls) == replicas and all(copy and sha256_of(copy) == block_id for copy in copies)


def index_of(cluster, url):
    return next(i for i, node in enumerate(cluster.datanodes) if url.startswith(node.url))


def wait_until(predicate, what, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting until {what}")


def assert_copy_from_rotten_source_refused(cluster, block_id, source, target):
    """Rot the copy on datanode ``source``, then ask datanode ``target`` to copy the block from it."""
    flip_byte(cluster.block_files(source)[block_id], 0)
    r = requests.post(f"{cluster.datanodes[target].url}/blocks/{block_id}/fetch",
                      params={"source": cluster.datanodes[source].url}, timeout=30)
    assert r.status_code >= 400
    assert block_id not in cluster.block_files(target)


def test_a_flipped_byte_is_never_served_and_its_replica_is_replaced(make_cluster):
    cluster = make_cluster(datanodes=4)
    data = os.urandom(16 * C)
    r = requests.put(cluster.url + "/webhdfs/v1/f", params={"op": "CREATE", "data": "true", "replication": 3},
                     data=data, headers=H, timeout=60)
    assert r.status_code == 201, r.text
    block_id, urls = holders(cluster, "/f")
    assert len(urls) == 3

    # The node the namenode sends readers to holds a rotten copy: readers still get the right bytes or an error.
    first = requests.get(cluster.url + "/webhdfs/v1/f", params={"op": "OPEN"}, allow_redirects=False, timeout=10)
    bad = index_of(cluster, first.headers["Location"])
    flip_byte(cluster.block_files(bad)[block_id], 5 * C + 7)
    wrong = 0
    for _ in range(30):
        try:
            r = requests.get(cluster.url + "/webhdfs/v1/f", params={"op": "OPEN"}, timeout=30)
        except requests.RequestException:
            continue  # a cut connection is an error the reader sees
        wrong += r.status_code == 200 and r.content != data
    assert wrong == 0
    assert os.path.exists(os.path.join(cluster.datanode_root(bad), "corrupt", block_id))
    wait_until(lambda: healthy(cluster, "/f", 3), "the namenode replaced the bad replica with a good one")

    # Re-replication from a rotten copy refuses: the source checks its chunks, the target the block id.
    _, urls = holders(cluster, "/f")
    source = index_of(cluster, urls[0])
    [target] = set(range(4)) - {index_of(cluster, url) for url in urls}
    assert_copy_from_rotten_source_refused(cluster, block_id, source, target)

    # A Range read of a block answers the chunks that check out and refuses the rotten one.
    reader = index_of(cluster, next(u for u in holders(cluster, "/f")[1] if not u.startswith(cluster.datanodes[source].url)))
    flip_byte(cluster.block_files(reader)[block_id], 9 * C + 1)
    url = f"{cluster.datanodes[reader].url}/blocks/{block_id}"
    r = requests.get(url, headers={"Range": f"bytes={C}-{3 * C - 1}"}, timeout=30)
    assert r.status_code == 206 and r.content == data[C:3 * C]
    try:
        r = requests.get(url, headers={"Range": f"bytes={8 * C}-{10 * C}"}, timeout=30)
        assert r.status_code >= 400
    except requests.RequestException:
        pass
    wait_until(lambda: all(requests.get(cluster.url + "/webhdfs/v1/f", params={"op": "OPEN"}, timeout=30).content
                           == data for _ in range(3)), "reads are right again")
    wait_until(lambda: healthy(cluster, "/f", 3), "the replica count is restored with good copies")


@pytest_twisted.ensureDeferred
async def test_the_client_reads_just_the_chunks_it_needs_and_skips_bad_ones(make_cluster):
    cluster = make_cluster(datanodes=2)
    data = os.urandom(96 * C + 100)
    r = requests.put(cluster.url + "/webhdfs/v1/f", params={"op": "CREATE", "data": "true", "replication": 2},
                     data=data, headers=H, timeout=60)
    assert r.status_code == 201, r.text
    block_id, urls = holders(cluster, "/f")
    http, pool = make_http(reactor)
    client = Client(http, cluster.url, reactor=reactor)
    try:
        assert (await client.read("/f", 3 * C + 5, 4096)) == data[3 * C + 5:3 * C + 5 + 4096]
        def served():  # the access log lines of block reads, written once each answer is complete
            return [line for i in range(2) for line in cluster.datanodes[i].log().splitlines()
                    if f"GET /blocks/{block_id} " in line]

        wait_until(served, "the datanode logged the read")
        assert all(int(line.split(" out=")[1].split()[0]) <= C for line in served()), served()
        # The replica tried first rots past its first 4 MiB: it stops there, the other one goes on.
        flip_byte(cluster.block_files(index_of(cluster, urls[0]))[block_id], 80 * C + 3)
        assert (await client.read("/f")) == data
        assert (await client.read("/f", 70 * C - 10, 20 * C)) == data[70 * C - 10:90 * C - 10]
    finally:
        await pool.closeCachedConnections()


@pytest_twisted.ensureDeferred
async def test_a_block_of_one_chunk_has_no_checksum_file_and_its_id_catches_a_flipped_byte(make_cluster):
    cluster = make_cluster(datanodes=4)
    data = os.urandom(1000)
    r = requests.put(cluster.url + "/webhdfs/v1/f", params={"op": "CREATE", "data": "true", "replication": 3},
                     data=data, headers=H, timeout=60)
    assert r.status_code == 201, r.text
    block_id, urls = holders(cluster, "/f")
    assert all(not os.path.exists(cluster.block_files(index_of(cluster, url))[block_id] + ".crc") for url in urls)

    # The smart client asks the replica it tries first for the checksums: that one refuses, the next one serves.
    http, pool = make_http(reactor)
    try:
        client = Client(http, cluster.url, reactor=reactor)
        [location] = (await client.block_locations("/f"))["BlockLocation"]
        first = index_of(cluster, location["urls"][0])
        flip_byte(cluster.block_files(first)[block_id], 999)
        copy = io.BytesIO()
        await client.fetch_block(location, copy)
        assert copy.getvalue() == data
    finally:
        await pool.closeCachedConnections()
    assert os.path.exists(os.path.join(cluster.datanode_root(first), "corrupt", block_id))
    wait_until(lambda: healthy(cluster, "/f", 3), "the namenode replaced the bad replica")

    # WebHDFS OPEN from a rotten replica: the reader gets the right bytes or an error, never a wrong byte.
    first = requests.get(cluster.url + "/webhdfs/v1/f", params={"op": "OPEN"}, allow_redirects=False, timeout=10)
    bad = index_of(cluster, first.headers["Location"])
    flip_byte(cluster.block_files(bad)[block_id], 500)
    wrong = 0
    for attempt in range(11):
        try:  # the redirect's own replica first: the namenode shuffles replicas, and ten OPENs could miss it
            r = (requests.get(first.headers["Location"], timeout=30) if attempt == 0 else
                 requests.get(cluster.url + "/webhdfs/v1/f", params={"op": "OPEN"}, timeout=30))
        except requests.RequestException:
            continue
        wrong += r.status_code == 200 and r.content != data
    assert wrong == 0
    assert os.path.exists(os.path.join(cluster.datanode_root(bad), "corrupt", block_id))
    wait_until(lambda: healthy(cluster, "/f", 3), "the namenode replaced the bad replica again")

    # A copy from a rotten source is refused; a Range read of a rotten replica answers an error.
    _, urls = holders(cluster, "/f")
    source, reader = index_of(cluster, urls[0]), index_of(cluster, urls[1])
    [target] = set(range(4)) - {index_of(cluster, url) for url in urls}
    assert_copy_from_rotten_source_refused(cluster, block_id, source, target)
    flip_byte(cluster.block_files(reader)[block_id], 10)
    r = requests.get(f"{cluster.datanodes[reader].url}/blocks/{block_id}", headers={"Range": "bytes=900-909"},
                     timeout=30)
    assert r.status_code >= 400
    wait_until(lambda: requests.get(cluster.url + "/webhdfs/v1/f", params={"op": "OPEN"}, timeout=30).content
               == data, "reads are right again")
    wait_until(lambda: healthy(cluster, "/f", 3), "the replica count is restored with good copies")
