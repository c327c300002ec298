"""Several namenodes on one PostgreSQL: clients go on past a namenode that is down, datanodes report to each."""

import hashlib
import os
import signal
import socket
import subprocess
import sys
import time

import pytest_twisted
from twisted.internet import defer, reactor

from dfs.client.core import Client
from dfs.client.retry import Backoff
from dfs.http import make_http

DFS = [sys.executable, "-m", "dfs.cli"]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cli(tmp_path, namenodes):
    """run(*args) -> stdout of `dfs --namenode NAMENODES ARGS...`, asserting it succeeded."""
    env = dict(os.environ, DFS_CONFIG=str(tmp_path / "no-config.toml"), DFS_TOKEN="")

    def run(*args):
        result = subprocess.run([*DFS, "--namenode", namenodes, *args], capture_output=True, env=env, timeout=120)
        assert result.returncode == 0, (args, result.stderr.decode())
        return result.stdout

    return run


def test_the_cli_uses_the_next_namenode_when_the_first_is_down(cluster, tmp_path, unique_dir):
    dfs = _cli(tmp_path, f"127.0.0.1:{_free_port()},{cluster.url}")
    data = os.urandom(300_000)
    (tmp_path / "f").write_bytes(data)
    dfs("mkdir", "-p", unique_dir)
    dfs("put", str(tmp_path / "f"), unique_dir + "/f")
    assert hashlib.sha256(dfs("cat", unique_dir + "/f")).digest() == hashlib.sha256(data).digest()


def test_datanodes_report_to_every_namenode_and_work_while_one_lives(postgres_url, make_cluster, tmp_path):
    cluster = make_cluster(namenodes=2, namenode_args=["--db-url", postgres_url])
    first, second = (namenode.url for namenode in cluster.namenodes)
    cluster.wait_for(lambda s: s["totals"]["alive"] == 3, what="3 datanodes at the second namenode")
    for url in (first, second):
        assert cluster.get_json("/cluster", url=url)["totals"]["alive"] == 3
    data = os.urandom(500_000)
    (tmp_path / "f").write_bytes(data)
    _cli(tmp_path, first)("put", str(tmp_path / "f"), "/f")
    assert hashlib.sha256(_cli(tmp_path, second)("cat", "/f")).digest() == hashlib.sha256(data).digest()

    cluster.namenode.stop(signal.SIGKILL)
    killed = time.monotonic()
    _cli(tmp_path, cluster.urls)("put", str(tmp_path / "f"), "/g")
    assert _cli(tmp_path, cluster.urls)("cat", "/g") == data
    # Longer than --stale-after (3 s): a datanode beating the dead namenode in vain still beats the live one.
    while time.monotonic() - killed < 4.5:
        assert cluster.get_json("/cluster", url=second)["totals"]["alive"] == 3


def _leading(cluster, namenode):
    """The epoch under which ``namenode`` leads background work, or None (also when it does not answer)."""
    try:
        return cluster.get_json("/cluster", url=namenode.url)["leader_epoch"]
    except OSError:
        return None


def _poll(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_frozen_leader_that_wakes_up_deletes_no_block_a_file_refers_to(postgres_url, make_cluster, tmp_path):
    cluster = make_cluster(namenodes=2, namenode_args=["--db-url", postgres_url, "--gc-grace", "0"])
    old, new, extra = tmp_path / "old", tmp_path / "new", tmp_path / "extra"
    for folder in (old, new, extra):
        folder.mkdir()
    for i in range(20):
        (extra / f"e{i}").write_bytes(os.urandom(1000))
    files = {f"f{i}": os.urandom(2000 + i) for i in range(300)}
    for name, data in files.items():
        (old / name).write_bytes(data)
        (new / name).write_bytes(data)
    leader = _poll(lambda: next((n for n in cluster.namenodes if _leading(cluster, n)), None), 30, "a leader")
    other = next(n for n in cluster.namenodes if n is not leader)
    on_leader, on_other = _cli(tmp_path, leader.url), _cli(tmp_path, other.url)
    on_leader("put", "-r", str(old), "/")
    on_leader("put", "-r", str(extra), "/")
    on_leader("rm", "-r", "--skip-trash", "/old")  # 300 orphans, deleted a heartbeat after a pass found them
    _poll(lambda: cluster.get_json("/cluster", url=leader.url)["totals"]["orphans"] > 0, 60,
          "the leader's GC under way")
    leader.signal(signal.SIGSTOP)
    frozen = time.monotonic()
    try:
        _poll(lambda: _leading(cluster, other), 30, "the other namenode to take over")
        taken_over = time.monotonic() - frozen
        on_other("put", "-r", str(new), "/")  # the same bytes again, so the same blocks: referenced now
        on_other("rm", "-r", "--skip-trash", "/extra")  # orphans for the new leader: its deletes fence the old one
        _poll(lambda: cluster.get_json("/cluster", url=other.url)["totals"]["deletions_done"] > 0, 60,
              "the new leader's GC")
    finally:
        leader.signal(signal.SIGCONT)
    _poll(lambda: cluster.get_json("/cluster", url=leader.url)["leader_epoch"] is None, 30,
          "the woken leader to see that it no longer leads")
    print(f"the other namenode took over {taken_over:.1f} s after the leader froze")
    assert taken_over < 15
    report = cluster.get_json("/cluster/fsck?path=/new", timeout=30, url=other.url)
    assert report["totals"]["status"] == "HEALTHY", report["totals"]
    for name, data in list(files.items())[::30]:
        assert on_other("cat", f"/new/{name}") == data


class _WatchedBackoff(Backoff):
    """The client's backoff, firing ``waiting`` when the client first waits."""

    def __init__(self):
        super().__init__()
        self.waiting = defer.Deferred()

    def delay(self, attempt, response, now):
        if not self.waiting.called:
            self.waiting.callback(None)
        return super().delay(attempt, response, now)


@pytest_twisted.ensureDeferred
async def test_a_client_with_one_address_waits_for_its_namenode_to_come_back(make_cluster):
    """One URL (a swarm's routing mesh in front of replicas): a namenode that is not there is waited for with the
    back-pressure rule, then the change is made once."""
    cluster = make_cluster(datanodes=1)
    http, pool = make_http(reactor)
    client = Client(http, cluster.url, backoff=_WatchedBackoff())
    try:
        await client.mkdir("/d")  # the client has reached its namenode
        cluster.namenode.kill()
        write = client.write("/d/f", b"while away")
        await defer.DeferredList([client.backoff.waiting, write], fireOnOneCallback=True, fireOnOneErrback=True,
                                 consumeErrors=True)
        assert client.backoff.waiting.called, "the write ended without waiting"
        cluster.namenode.restart_on_same_port()
        await write
        assert (await client.read("/d/f")) == b"while away"
    finally:
        await pool.closeCachedConnections()
