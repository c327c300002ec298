"""The test of issue 22: two namenodes on one PostgreSQL, three datanodes given both, four writers using
`dfs --namenode nn1,nn2 put`; the first namenode is killed (SIGKILL) three times and restarted each time. No
acknowledged write is lost, each reads back with its SHA-256, and no writer waits more than 10 s between two
acknowledgements.

Each writer is a `dfs --namenode nn1,nn2 shell` fed `put` commands, so the wait measured is the puts' own and not
the start-up of a Python process (seconds on a loaded machine). A shell is replaced after a few puts, so that every
new one starts at the first namenode again, dead or alive, as a fresh `dfs put` would; its start-up is not counted:
the wait runs from the later of the previous acknowledgement and the new shell's first answer (a `pwd`, which asks
no namenode)."""

import hashlib
import os
import queue
import subprocess
import sys
import threading
import time
import traceback

import requests

DFS = [sys.executable, "-m", "dfs.cli"]
WRITERS = 4
KILLS = 3
MAX_GAP = 10.0  # seconds a writer may wait between two acknowledgements
PUTS_PER_SHELL = 3
ANSWER_TIMEOUT = 120  # seconds without any answer from a shell before its writer gives up (a hang, reported)


class Shell:
    """One `dfs shell` process: ``ask`` sends a line followed by `pwd` and waits for the `pwd`'s answer, which
    comes only after the line's command is done. ``-e``: a failed command ends the shell."""

    def __init__(self, namenodes, env):
        self.popen = subprocess.Popen([*DFS, "--namenode", namenodes, "shell", "-e"], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
        self.answers = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.popen.stdout:
            self.answers.put(line)
        self.answers.put(None)

    def ask(self, line=None):
        """Run ``line`` (None: nothing) and wait for it: None when done, else what the shell wrote to stderr
        before it ended. Raises AssertionError when no answer comes (a hang)."""
        self.popen.stdin.write(f"{line or ''}\npwd\n")
        self.popen.stdin.flush()
        try:
            answer = self.answers.get(timeout=ANSWER_TIMEOUT)
        except queue.Empty:
            raise AssertionError(f"no answer to {line!r} in {ANSWER_TIMEOUT} s") from None
        return f"{line!r} failed: {self.close()}" if answer is None else None

    def close(self):
        """End the shell; what it wrote to stderr."""
        self.popen.stdin.close()
        try:
            self.popen.wait(ANSWER_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
        return self.popen.stderr.read()


class Writer(threading.Thread):
    """Puts files one after another until told to stop; records each acknowledged one, each wait for an
    acknowledgement, and each failed put. A hang or an exception ends the writer, recorded with the failures."""

    def __init__(self, number, namenodes, scratch, env):
        super().__init__(daemon=True)
        self.number, self.namenodes, self.scratch, self.env = number, namenodes, scratch, env
        self.acked = {}  # dfs path -> SHA-256 of what was put
        self.failures = []
        self.gaps = []  # seconds between acknowledgements, not counting a shell's start-up
        self.stop = threading.Event()
        self.shell = None  # the Shell in use

    def run(self):
        try:
            self._write()
        except BaseException:
            self.failures.append(traceback.format_exc())
        finally:
            if self.shell is not None:
                self.shell.close()

    def _write(self):
        last_ack, puts = None, 0
        for i in range(10_000):
            if self.stop.is_set():
                return
            failed = None
            if self.shell is None:  # its first answer (a `pwd` alone) asks no namenode: start-up is not counted
                self.shell, puts = Shell(self.namenodes, self.env), 0
                failed = self.shell.ask(f"mkdir -p /w{self.number}" if i == 0 else None)
                ready = time.monotonic()
            data = os.urandom(50_000 + (i * 7919) % 250_000)
            local = os.path.join(self.scratch, f"w{self.number}-{i}")
            with open(local, "wb") as f:
                f.write(data)
            path = f"/w{self.number}/{i}"
            failed = failed or self.shell.ask(f"put {local} {path}")
            now = time.monotonic()
            os.unlink(local)
            if failed:  # the shell ended
                self.failures.append(failed)
                self.shell = None
                continue
            self.gaps.append(now - max(ready, last_ack or ready))
            last_ack = now
            self.acked[path] = hashlib.sha256(data).hexdigest()
            puts += 1
            if puts == PUTS_PER_SHELL:
                self.shell.close()
                self.shell = None


def start_writers(cluster, tmp_path, count=WRITERS):
    """``count`` Writers putting through every namenode of ``cluster``, started."""
    env = dict(os.environ, DFS_CONFIG=str(tmp_path / "no-config.toml"), DFS_TOKEN="", PYTHONUNBUFFERED="1")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    writers = [Writer(n, cluster.urls, str(scratch), env) for n in range(count)]
    for writer in writers:
        writer.start()
    return writers


def _wait_for_acks(writers, more, timeout=180):
    """Until every writer has ``more`` acknowledgements beyond what it had (a writer that stopped fails at once)."""
    goal = [len(w.acked) + more for w in writers]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(len(w.acked) >= g for w, g in zip(writers, goal)):
            return
        stopped = [w.failures for w in writers if not w.is_alive()]
        assert not stopped, f"a writer stopped: {stopped}"
        time.sleep(0.1)
    raise AssertionError(f"writers stalled: {[len(w.acked) for w in writers]}, wanted {goal}")


def test_killing_a_namenode_three_times_loses_no_acknowledged_write(postgres_url, make_cluster, tmp_path):
    cluster = make_cluster(namenodes=2, namenode_args=["--db-url", postgres_url])  # both see 3 datanodes
    first, second = cluster.namenodes
    writers = start_writers(cluster, tmp_path)
    try:
        _wait_for_acks(writers, 3)
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
            writer.join(2 * ANSWER_TIMEOUT)
    assert not [writer.number for writer in writers if writer.is_alive()], "writers still running"
    failures = [f for writer in writers for f in writer.failures]
    assert failures == []
    acked = {path: sha for writer in writers for path, sha in writer.acked.items()}
    waits = [round(max(writer.gaps[:n]), 1) for writer, n in zip(writers, before)]
    gaps = [round(max(writer.gaps[n:]), 1) for writer, n in zip(writers, before)]
    print(f"{len(acked)} acknowledged writes; longest wait before the kills {waits} s, during them {gaps} s")
    assert max(gaps + waits) <= MAX_GAP, (waits, gaps)
    for path, sha in acked.items():
        response = requests.get(f"{second.url}/webhdfs/v1{path}", params={"op": "OPEN"}, timeout=60)
        assert response.status_code == 200, (path, response.text)
        assert hashlib.sha256(response.content).hexdigest() == sha, path
