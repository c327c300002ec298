"""`make run` (dfs.devcluster) on a taken port says so in one line, before it starts anything."""

import socket

import pytest

from dfs import devcluster


def test_a_taken_port_is_named(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SystemExit) as stopped:
            devcluster.main(["--root", str(tmp_path / "run"), "--port", str(port)])
    assert str(stopped.value).startswith(f"port {port} is in use")
    assert not (tmp_path / "run").exists(), "nothing was started"
