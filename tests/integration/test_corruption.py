"""No unverified byte leaves a datanode: a byte flipped on disk (mtime kept) is caught by the chunk checksums on
every read path, the replica is quarantined, and the namenode restores the replica count."""

import os
import time

import requests

from dfs import chunks

H = {"Content-Type": "application/octet-stream"}
C = chunks.CHUNK_SIZE


def flip(path, at):
    """Flip one byte in place and put the mtime back, as a failing disk would."""
    st = os.stat(path)
    with open(path, "r+b") as f:
        f.seek(at)
        byte = f.read(1)
        f.seek(at)
        f.write(bytes([byte[0] ^ 0xFF]))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def holders(cluster, path):
    r = requests.get(cluster.url + "/webhdfs/v1" + path, params={"op": "GETFILEBLOCKLOCATIONS"}, timeout=10)
    [location] = r.json()["BlockLocations"]["BlockLocation"]
    return location["blockId"], location["internalUrls"]


def index_of(cluster, url):
    return next(i for i, node in enumerate(cluster.datanodes) if url.startswith(node.url))


def wait_until(predicate, what, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting until {what}")


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
    flip(cluster.block_files(bad)[block_id], 5 * C + 7)
    wrong = 0
    for _ in range(30):
        try:
            r = requests.get(cluster.url + "/webhdfs/v1/f", params={"op": "OPEN"}, timeout=30)
        except requests.RequestException:
            continue  # a cut connection is an error the reader sees
        wrong += r.status_code == 200 and r.content != data
    assert wrong == 0
    assert os.path.exists(os.path.join(cluster.datanode_root(bad), "corrupt", block_id))
    bad_url = cluster.datanodes[bad].url
    wait_until(lambda: len(holders(cluster, "/f")[1]) == 3 and bad_url not in holders(cluster, "/f")[1],
               "the namenode dropped the bad replica and made a new one")

    # Re-replication from a rotten copy refuses: the source checks its chunks, the target the block id.
    _, urls = holders(cluster, "/f")
    source, target = index_of(cluster, urls[0]), bad
    flip(cluster.block_files(source)[block_id], 0)
    r = requests.post(f"{cluster.datanodes[target].url}/blocks/{block_id}/fetch",
                      params={"source": cluster.datanodes[source].url}, timeout=30)
    assert r.status_code >= 400
    assert block_id not in cluster.block_files(target)

    # A Range read of a block answers the chunks that check out and refuses the rotten one.
    reader = index_of(cluster, next(u for u in holders(cluster, "/f")[1] if not u.startswith(cluster.datanodes[source].url)))
    flip(cluster.block_files(reader)[block_id], 9 * C + 1)
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
    wait_until(lambda: len(holders(cluster, "/f")[1]) == 3, "the replica count is restored")
