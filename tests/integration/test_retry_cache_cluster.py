"""Exactly-once retries with two namenodes on one PostgreSQL: a change sent again with the same client operation
id, to either namenode, answers what its first attempt did and is made once: also when the namenode that took the
first attempt was frozen and runs it late, and when it died after its commit and before its answer."""

import os
import signal
import socket
import subprocess
import sys
import time
from urllib.parse import urlencode, urlsplit

import requests
from test_hadoop_client import read, stat

H = {"Content-Type": "application/octet-stream"}
CLIENT = "test-client-0001"
DATA = os.urandom(200_000)
TAIL = b"the appended tail"


def _two_namenodes(make_cluster, postgres_url):
    cluster = make_cluster(namenodes=2, namenode_args=["--db-url", postgres_url])
    second = cluster.namenodes[1].url  # the fixture waits for the first one only
    _poll(lambda: _ready(cluster, second), 30, f"{second} out of safe mode with 3 datanodes")
    return cluster


def _ready(cluster, url):
    totals = cluster.get_json("/cluster", url=url)["totals"]
    return totals["alive"] == 3 and not totals["safemode"]


def _poll(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _send(namenode, method, path, op, call_id, body=None, **params):
    """One WebHDFS request to ``namenode`` naming the operation (CLIENT, call_id)."""
    return requests.request(method, f"{namenode.url}/webhdfs/v1{path}", params={"op": op, "clientid": CLIENT,
                                                                       "callid": call_id, **params},
                            data=body, headers=H, timeout=60)


def test_a_change_sent_again_to_the_other_namenode_answers_what_the_first_attempt_did(postgres_url, make_cluster):
    cluster = _two_namenodes(make_cluster, postgres_url)
    first, second = cluster.namenodes

    for namenode in (first, second):  # CREATE without overwrite: the second attempt succeeds, no second version
        r = _send(namenode, "PUT", "/f", "CREATE", 1, DATA, data="true")
        assert r.status_code == 201, r.text
        if namenode is first:
            made = stat(second, "/f")
    assert stat(first, "/f") == made  # same inode, same times: not written again
    r = _send(first, "PUT", "/f", "CREATE", 2, DATA, data="true")  # a new operation: today's answer
    assert r.status_code == 403 and r.json()["RemoteException"]["exception"] == "FileAlreadyExistsException"

    for namenode in (first, second):
        assert _send(namenode, "POST", "/f", "APPEND", 3, TAIL, data="true").status_code == 200
    assert read(second, "/f") == DATA + TAIL  # appended once

    for namenode in (first, second):
        assert _send(namenode, "POST", "/f", "TRUNCATE", 4, newlength=len(DATA)).json()["boolean"] is True
    assert _send(first, "POST", "/f", "APPEND", 5, TAIL, data="true").status_code == 200
    assert _send(second, "POST", "/f", "TRUNCATE", 4, newlength=len(DATA)).status_code == 200
    assert stat(first, "/f")["length"] == len(DATA) + len(TAIL)  # the retried TRUNCATE cut nothing again

    for namenode in (first, second):
        assert _send(namenode, "PUT", "/f", "RENAME", 6, destination="/g").json()["boolean"] is True
    assert stat(first, "/f") is None and stat(first, "/g")["length"] == len(DATA) + len(TAIL)
    assert _send(second, "PUT", "/f", "RENAME", 7, destination="/g").json()["boolean"] is False

    for namenode in (first, second):
        assert _send(namenode, "DELETE", "/g", "DELETE", 8).json()["boolean"] is True
    assert _send(second, "DELETE", "/g", "DELETE", 9).json()["boolean"] is False


def _raw_request(url, method, path, query, body):
    """A socket that has sent one whole HTTP request (and waits for its answer)."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=60)
    head = (f"{method} /webhdfs/v1{path}?{urlencode(query)} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            f"Content-Type: application/octet-stream\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n")
    sock.sendall(head.encode() + body)
    return sock


def _answer(sock):
    chunks = []
    while True:
        data = sock.recv(65536)
        if not data:
            return b"".join(chunks)
        chunks.append(data)


def test_a_frozen_namenode_that_runs_a_change_late_does_not_make_it_twice(postgres_url, make_cluster, tmp_path):
    """The client gives up on a frozen namenode and makes its APPEND and RENAME on the other with the same ids;
    the frozen one, woken, runs what it had taken and answers it from the retry cache."""
    cluster = _two_namenodes(make_cluster, postgres_url)
    frozen, live = cluster.namenodes
    assert _send(live, "PUT", "/f", "CREATE", 1, DATA, data="true").status_code == 201

    frozen.signal(signal.SIGSTOP)
    try:
        # The first attempt reaches the frozen namenode: the kernel takes the whole request into its socket.
        late = _raw_request(frozen.url, "POST", "/f", {"op": "APPEND", "data": "true", "clientid": CLIENT,
                                                      "callid": 2}, TAIL)
        assert _send(live, "POST", "/f", "APPEND", 2, TAIL, data="true").status_code == 200
        # The dfs client: a read timeout on the frozen namenode, the same request on the next one.
        script = ("from dfs.client import BlockingClient\n"
                  f"client = BlockingClient({frozen.url + ',' + live.url!r}, read_timeout=2)\n"
                  "client.append('/f', b'more')\n"
                  "print(client.mv('/f', '/g'))\n")
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120,
                              env=dict(os.environ, DFS_CONFIG=str(tmp_path / "none.toml"), DFS_TOKEN=""))
        assert done.returncode == 0, done.stderr.decode()
        assert done.stdout.strip() == b"True"
        assert time.monotonic() - started < 60
    finally:
        frozen.signal(signal.SIGCONT)
    answer = _answer(late)
    late.close()
    assert answer.startswith(b"HTTP/1.1 200"), answer[:500]
    assert read(frozen, "/g") == DATA + TAIL + b"more"  # each change once, whoever ran it first
    assert stat(frozen, "/f") is None


def test_a_namenode_killed_between_its_commit_and_its_answer(postgres_url, make_cluster, tmp_path):
    """PostgreSQL holds the RENAME's commit after writing it (a synchronous standby that never confirms: the
    commit is in the WAL, not yet visible); the namenode is killed then, so its answer never leaves. The dfs client
    sends the RENAME to the other namenode with the same id, which answers it from the retry cache once the commit
    shows: ``dfs mv`` succeeds and the file moved once."""
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as db:  # the test server's default is off: no waits
        db.execute(f"ALTER DATABASE {db.info.dbname} SET synchronous_commit = on")
    cluster = _two_namenodes(make_cluster, postgres_url)
    dying, live = cluster.namenodes
    assert _send(live, "PUT", "/a", "CREATE", 1, DATA, data="true").status_code == 201
    env = dict(os.environ, DFS_CONFIG=str(tmp_path / "none.toml"), DFS_TOKEN="")
    with psycopg.connect(postgres_url, autocommit=True) as db:
        db.execute("ALTER SYSTEM SET synchronous_standby_names = 'nobody'")
        db.execute("SELECT pg_reload_conf()")
        try:
            mv = subprocess.Popen([sys.executable, "-m", "dfs.cli", "--namenode", f"{dying.url},{live.url}", "mv",
                                   "/a", "/b"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
            # The one transaction that writes the retry cache, committed and waiting for the standby.
            _poll(lambda: db.execute(
                "SELECT 1 FROM pg_stat_activity AS a JOIN pg_locks AS l ON l.pid = a.pid WHERE a.wait_event ="
                " 'SyncRep' AND l.relation = 'retries'::regclass").fetchone(), 60, "the RENAME's commit")
            dying.stop(signal.SIGKILL)
        finally:
            db.execute("ALTER SYSTEM RESET synchronous_standby_names")
            db.execute("SELECT pg_reload_conf()")
        out, err = mv.communicate(timeout=120)
        assert mv.returncode == 0, err.decode()
        assert db.execute("SELECT answer FROM retries WHERE op = 'RENAME'").fetchall() == [('{"value": true}',)]
    assert stat(live, "/a") is None
    assert read(live, "/b") == DATA
