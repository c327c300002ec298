"""The test of issue 22: two namenodes on one PostgreSQL, three datanodes given both, four writers using
`dfs --namenode nn1,nn2 put`; the first namenode is killed (SIGKILL) three times and restarted each time. No
acknowledged write is lost, each reads back with its SHA-256, and no writer waits more than 10 s for an ack beyond
the longest wait it had before any kill (on a loaded machine a put alone can take longer than 10 s)."""

import hashlib
import os
import signal
import subprocess
import sys
import threading
import time

import requests

DFS = [sys.executable, "-m", "dfs.cli"]
WRITERS = 4
KILLS = 3
MAX_GAP = 10.0  # seconds a writer may wait between two acknowledgements


class Writer(threading.Thread):
    """Puts files one after another until told to stop; records each acknowledged one and the longest wait."""

    def __init__(self, number, namenodes, scratch, env):
        super().__init__(daemon=True)
        self.number, self.namenodes, self.scratch, self.env = number, namenodes, scratch, env
        self.acked = {}  # dfs path -> SHA-256 of what was put
        self.failures = []
        self.gaps = []  # seconds between acknowledgements
        self.stop = threading.Event()

    def run(self):
        subprocess.run([*DFS, "--namenode", self.namenodes, "mkdir", "-p", f"/w{self.number}"], check=True,
                       env=self.env, timeout=120)
        last_ack = time.monotonic()
        for i in range(10_000):
            if self.stop.is_set():
                return
            data = os.urandom(50_000 + (i * 7919) % 250_000)
            local = os.path.join(self.scratch, f"w{self.number}-{i}")
            with open(local, "wb") as f:
                f.write(data)
            path = f"/w{self.number}/{i}"
            result = subprocess.run([*DFS, "--namenode", self.namenodes, "put", local, path], capture_output=True,
                                    env=self.env, timeout=120)
            os.unlink(local)
            if result.returncode != 0:
                self.failures.append(result.stderr.decode())
                continue
            now = time.monotonic()
            self.gaps.append(now - last_ack)
            last_ack = now
            self.acked[path] = hashlib.sha256(data).hexdigest()


def start_writers(cluster, tmp_path, count=WRITERS):
    """``count`` Writers putting through every namenode of ``cluster``, started."""
    env = dict(os.environ, DFS_CONFIG=str(tmp_path / "no-config.toml"), DFS_TOKEN="")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    writers = [Writer(n, cluster.urls, str(scratch), env) for n in range(count)]
    for writer in writers:
        writer.start()
    return writers


def _wait_for_acks(writers, more, timeout=120):
    """Until every writer has ``more`` acknowledgements beyond what it had."""
    goal = [len(w.acked) + more for w in writers]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(len(w.acked) >= g for w, g in zip(writers, goal)):
            return
        time.sleep(0.1)
    raise AssertionError(f"writers stalled: {[len(w.acked) for w in writers]}, wanted {goal}; last failures "
                         f"{[w.failures[-1:] for w in writers]}")


def test_killing_a_namenode_three_times_loses_no_acknowledged_write(postgres_url, make_cluster, tmp_path):
    cluster = make_cluster(namenodes=2, namenode_args=["--db-url", postgres_url])
    first, second = cluster.namenodes
    cluster.wait_for(lambda s: s["totals"]["alive"] == 3, what="the first namenode's datanodes")
    writers = start_writers(cluster, tmp_path)
    try:
        _wait_for_acks(writers, 3)
        baseline = max(max(writer.gaps) for writer in writers)
        before = [len(writer.gaps) for writer in writers]
        for _ in range(KILLS):
            _wait_for_acks(writers, 2)
            first.kill()
            _wait_for_acks(writers, 2)
            first.restart_on_same_port()
            cluster.wait_for(lambda s: s["totals"]["alive"] == 3 and not s["totals"]["safemode"],
                             what="the restarted namenode out of safe mode")
        _wait_for_acks(writers, 2)
    finally:
        for writer in writers:
            writer.stop.set()
        for writer in writers:
            writer.join(180)
    acked = {path: sha for writer in writers for path, sha in writer.acked.items()}
    gaps = [round(max(writer.gaps[n:]), 1) for writer, n in zip(writers, before)]
    failures = [f for writer in writers for f in writer.failures]
    print(f"{len(acked)} acknowledged writes; longest wait before the kills {baseline:.1f} s, during them {gaps} s; "
          f"{len(failures)} failed puts: {failures[:5]}")
    assert max(gaps) <= baseline + MAX_GAP, gaps
    for path, sha in acked.items():
        response = requests.get(f"{second.url}/webhdfs/v1{path}", params={"op": "OPEN"}, timeout=60)
        assert response.status_code == 200, (path, response.text)
        assert hashlib.sha256(response.content).hexdigest() == sha, path
