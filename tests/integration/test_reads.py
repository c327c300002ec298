"""Reads through a reused datanode URL (as Hadoop's client seeks) answer exactly the bytes asked for, of the file
version the URL names, on a real cluster."""

import os
import random
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests

H = {"Content-Type": "application/octet-stream"}


def put_file(cluster, path, data, **params):
    r = requests.put(cluster.url + "/webhdfs/v1" + path, params={"op": "CREATE", "data": "true", **params},
                     data=data, headers=H, timeout=60)
    assert r.status_code == 201, r.text


def datanode_url(cluster, path, **params):
    r = requests.get(cluster.url + "/webhdfs/v1" + path, params={"op": "OPEN", **params}, allow_redirects=False,
                     timeout=30)
    assert r.status_code == 307, r.text
    return r.headers["Location"]


def with_range(url, offset, length=None):
    """The URL with its offset and length replaced, as WebHdfsFileSystem does on seek() and pread()."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in ("offset", "length")]
    query.append(("offset", str(offset)))
    if length is not None:
        query.append(("length", str(length)))
    return urlunsplit(parts._replace(query=urlencode(query)))


def offsets(size, block_size, rng):
    """Block boundaries and their neighbours, the ends of the file, and random positions."""
    edges = {0, 1, size - 1, size, size + 5}
    for boundary in range(block_size, size, block_size):
        edges.update({boundary - 1, boundary, boundary + 1})
    return sorted(edges | {rng.randrange(size) for _ in range(10)})


def check_reused_url(url, data, block_size, rng):
    for offset in offsets(len(data), block_size, rng):
        r = requests.get(with_range(url, offset), timeout=30)
        assert r.status_code == 200 and r.content == data[offset:], f"offset={offset}"
        for length in (0, 1, block_size, rng.randrange(1, 3 * block_size)):
            r = requests.get(with_range(url, offset, length), timeout=30)
            assert r.status_code == 200 and r.content == data[offset:offset + length], f"{offset}+{length}"


def test_a_reused_url_reads_any_range_of_one_block(cluster, unique_dir):
    data = os.urandom(200_000)
    put_file(cluster, unique_dir + "/one", data)
    url = datanode_url(cluster, unique_dir + "/one", offset=150_000, length=10)
    check_reused_url(url, data, 65_536, random.Random(1))


def test_a_reused_url_reads_any_range_of_a_few_blocks(cluster, unique_dir):
    block_size = 4096
    data = os.urandom(5 * block_size + 123)
    put_file(cluster, unique_dir + "/few", data, blocksize=block_size, replication=1)
    url = datanode_url(cluster, unique_dir + "/few", offset=3 * block_size)
    assert "blocks=" in url, "a few extents travel in the URL"
    check_reused_url(url, data, block_size, random.Random(2))


def test_a_reused_url_reads_any_range_of_many_blocks(cluster, unique_dir):
    block_size = 1024
    data = os.urandom(40 * block_size + 77)
    put_file(cluster, unique_dir + "/many", data, blocksize=block_size, replication=1)
    url = datanode_url(cluster, unique_dir + "/many", offset=7000, length=3)
    assert "version=" in url and "blocks=" not in url, "many extents are named by their digest"
    check_reused_url(url, data, block_size, random.Random(3))


def test_a_url_reads_its_own_version_or_refuses(cluster, unique_dir):
    few, many = unique_dir + "/few", unique_dir + "/many"
    old_few, old_many = os.urandom(3000), os.urandom(20 * 1024)
    put_file(cluster, few, old_few, blocksize=1024)
    put_file(cluster, many, old_many, blocksize=1024)
    few_url, many_url = datanode_url(cluster, few), datanode_url(cluster, many)
    put_file(cluster, few, os.urandom(3000), blocksize=1024, overwrite="true")
    put_file(cluster, many, os.urandom(20 * 1024), blocksize=1024, overwrite="true")
    r = requests.get(with_range(few_url, 1000, 1500), timeout=30)
    assert r.status_code == 200 and r.content == old_few[1000:2500], "the blocks named are immutable"
    r = requests.get(with_range(many_url, 1000, 1500), timeout=30)
    assert r.status_code == 404 and "changed" in r.json()["RemoteException"]["message"]
