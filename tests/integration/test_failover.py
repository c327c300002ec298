"""Clients given several namenodes: the CLI goes on past one that is down."""

import hashlib
import os
import socket
import subprocess
import sys

DFS = [sys.executable, "-m", "dfs.cli"]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_cli_uses_the_next_namenode_when_the_first_is_down(cluster, tmp_path, unique_dir):
    down = f"127.0.0.1:{_free_port()}"
    env = dict(os.environ, DFS_CONFIG=str(tmp_path / "no-config.toml"), DFS_TOKEN="")
    data = os.urandom(300_000)
    (tmp_path / "f").write_bytes(data)

    def dfs(*args):
        result = subprocess.run([*DFS, "--namenode", f"{down},{cluster.url}", *args], capture_output=True, env=env,
                                timeout=120)
        assert result.returncode == 0, (args, result.stderr.decode())
        return result.stdout

    dfs("mkdir", "-p", unique_dir)
    dfs("put", str(tmp_path / "f"), unique_dir + "/f")
    assert hashlib.sha256(dfs("cat", unique_dir + "/f")).digest() == hashlib.sha256(data).digest()
    env["DFS_NAMENODE_URL"] = f"{down},{cluster.url}"
    assert subprocess.run([*DFS, "ls", unique_dir], capture_output=True, env=env, timeout=120).returncode == 0
