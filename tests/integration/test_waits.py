"""Nothing waits forever and back-pressure is waited out: a frozen namenode, bursts of uploads, huge files."""

import os
import signal
import subprocess
import sys
import time

import pytest_twisted
import requests
from twisted.internet import defer, reactor

from dfs.client import Client
from dfs.errors import FileTooLarge
from dfs.http import make_http

DFS = [sys.executable, "-m", "dfs.cli"]


def environment(cluster, tmp_path, **extra):
    return dict(os.environ, DFS_NAMENODE_URL=cluster.url, DFS_CONFIG=str(tmp_path / "no-config.toml"),
                XDG_DATA_HOME=str(tmp_path / "data"), DFS_TOKEN="", **extra)


def test_ls_against_a_frozen_namenode_fails_within_90s_naming_it(make_cluster, tmp_path):
    """With the default timeouts: the namenode's kernel accepts the connection, nothing ever answers."""
    cluster = make_cluster(datanodes=1)
    cluster.namenode.signal(signal.SIGSTOP)
    try:
        started = time.monotonic()
        result = subprocess.run([*DFS, "ls", "/"], capture_output=True, text=True, timeout=120,
                                env=environment(cluster, tmp_path))
        took = time.monotonic() - started
    finally:
        cluster.namenode.signal(signal.SIGCONT)
    assert result.returncode == 1 and took < 90
    assert result.stderr.splitlines() == [
        f"dfs: ls: /: cannot reach the namenode at {cluster.url}: no response for 60s (read timeout)"]


def test_an_upload_whose_source_pauses_longer_than_the_read_timeout_succeeds(make_cluster):
    """A client streaming from a quiet source (curl -T from a pipe): the namenode's connections to the datanodes
    carry no byte meanwhile, and a quiet source is not a frozen datanode."""
    quick = ["--read-timeout", "1"]
    cluster = make_cluster(datanodes=1, namenode_args=quick, datanode_args=quick)

    first, last = os.urandom(3 << 20), os.urandom(1 << 20)  # the namenode is already sending to the datanode

    def body():
        yield first
        time.sleep(4)
        yield last

    r = requests.put(cluster.url + "/webhdfs/v1/slow", params={"op": "CREATE", "data": "true"}, data=body(),
                     headers={"Content-Type": "application/octet-stream"}, timeout=60)
    assert r.status_code == 201, r.text
    assert requests.get(cluster.url + "/webhdfs/v1/slow", params={"op": "OPEN"}, timeout=60).content == first + last


def test_32_concurrent_puts_from_one_host_all_succeed(make_cluster, tmp_path):
    """The namenode takes 2 uploads per client address at once here; the other puts are refused with 429 and
    wait their turn."""
    cluster = make_cluster(datanodes=1, namenode_args=["--uploads-per-client", "2", "--replication", "1"])
    source = tmp_path / "source.bin"
    source.write_bytes(os.urandom(4 << 20))
    env = environment(cluster, tmp_path)
    puts = [subprocess.Popen([*DFS, "put", str(source), f"/burst-{i}"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=env) for i in range(32)]
    outcomes = [(p.wait(300), p.stderr.read().decode()) for p in puts]
    assert outcomes == [(0, "")] * 32
    listed = subprocess.run([*DFS, "ls", "/"], capture_output=True, text=True, env=env, timeout=60).stdout.split()
    assert sum(f"burst-{i}" in listed for i in range(32)) == 32


@pytest_twisted.ensureDeferred
async def test_100_concurrent_writes_through_the_async_client_all_succeed(cluster, unique_dir):
    http, pool = make_http(reactor)
    client = Client(http, cluster.url, reactor=reactor)
    try:
        await client.mkdir(unique_dir)
        data = os.urandom(256 << 10)
        results = await defer.DeferredList([client.write(f"{unique_dir}/f{i}", data) for i in range(100)],
                                           consumeErrors=True)
        failures = [result.getErrorMessage() for ok, result in results if not ok]
        assert failures == []
        assert len(await client.ls(unique_dir)) == 100
        assert await client.read(f"{unique_dir}/f99") == data
    finally:
        await pool.closeCachedConnections()


@pytest_twisted.ensureDeferred
async def test_files_past_the_largest_file_size_are_refused(make_cluster, tmp_path):
    cluster = make_cluster(datanodes=1, namenode_args=["--max-file-size", "1M", "--replication", "1"])
    http, pool = make_http(reactor)
    client = Client(http, cluster.url, reactor=reactor)
    try:
        for write in (lambda: client.write("/big", bytes((1 << 20) + 1)),
                      lambda: client.upload("/piped", _Pipe((1 << 20) + 1))):  # chunked: no length up front
            try:
                await write()
            except FileTooLarge as e:
                assert "1048576" in e.message
            else:
                raise AssertionError("a file past the largest file size was stored")
        await client.write("/small", bytes(1 << 20))
        try:
            await client.append("/small", b"x")
        except FileTooLarge:
            pass
        else:
            raise AssertionError("an append past the largest file size was stored")
        assert (await client.stat("/small"))["length"] == 1 << 20
        assert not await client.exists("/big") and not await client.exists("/piped")
    finally:
        await pool.closeCachedConnections()


class _Pipe:
    """``size`` zero bytes from a file object that cannot seek or tell (sent chunked)."""

    def __init__(self, size):
        self.left = size

    def read(self, n=-1):
        n = self.left if n is None or n < 0 else min(n, self.left)
        self.left -= n
        return bytes(n)
