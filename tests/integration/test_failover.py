"""Several namenodes on one PostgreSQL: clients go on past a namenode that is down, datanodes report to each."""

import hashlib
import os
import signal
import socket
import subprocess
import sys
import time

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
