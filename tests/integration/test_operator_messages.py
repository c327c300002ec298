"""What an operator sees when a node cannot start: the reason, on one line, first."""

import socket
import sqlite3
import subprocess
import sys

from dfs.namenode.namespace import schema


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


def test_a_namenode_on_a_database_from_a_newer_release_refuses_in_one_line(tmp_path):
    db_path = tmp_path / "namenode.sqlite"
    subprocess.run([sys.executable, "-c", "from dfs.namenode.namespace.sqlite import SQLiteNamespace as S;"
                    f"s = S({str(db_path)!r}); s.start(); s.stop()"], check=True, timeout=60)
    with sqlite3.connect(db_path) as db:
        db.execute("INSERT INTO schema_version VALUES (999, 0)")
    result = subprocess.run([sys.executable, "-m", "twisted", "dfs-namenode", "--db", str(db_path),
                             "--listen", "tcp:0:interface=127.0.0.1"],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "dfs namenode: the namenode database has schema version 999, newer than this dfs knows"
        f" ({schema.latest('sqlite')}):"
        " run the dfs release that wrote it"]


def test_a_namenode_whose_postgresql_cannot_be_reached_refuses_with_the_reason(tmp_path):
    """With --db-url the namenode opens nothing else: an unreachable database stops it with the server's reason,
    and no SQLite file is written in its place."""
    for url, reason in (("postgresql://dfs:secret@/dfs?host=" + str(tmp_path / "no-server"),
                         "dfs namenode: cannot open the namespace database: "),
                        ("mysql://dfs@db/dfs", "dfs namenode: --db-url/DFS_DB_URL must be a postgresql:// URL")):
        result = subprocess.run([sys.executable, "-m", "twisted", "dfs-namenode", "--db-url", url,
                                 "--listen", "tcp:0:interface=127.0.0.1"],
                                capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert result.returncode == 1
        assert result.stderr.strip().startswith(reason), result.stderr
        assert "secret" not in result.stderr
        assert list(tmp_path.glob("*.sqlite*")) == []
