"""What an operator sees when a node cannot start: the reason, on one line, first."""

import socket
import subprocess
import sys


def test_a_second_local_cluster_on_a_taken_port_says_so(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "dfs.devcluster", "--root", str(tmp_path), "--port", str(port),
                                 "--datanodes", "1"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert f"cannot listen on tcp:{port}:interface=127.0.0.1" in result.stderr
    assert "Address already in use" in result.stderr
    assert "Another cluster (an earlier `make run`?) has the port" in result.stderr
