"""Real dfs processes for integration tests: a namenode and datanodes started with twistd on tcp:0."""

import json
import os
import re
import signal as signals
import ssl
import subprocess
import time
import urllib.request

import requests
from prometheus_client.parser import text_string_to_metric_families

from dfs.datanode.blockstore import BLOCK_ID
from dfs.devcluster import twistd_env
from dfs.node import twistd_command

# Seconds a process may take to listen: minutes, not seconds, since a loaded CI machine (two CPU burners) has made a
# namenode take over 20 s. A process that exits is reported at once; one that hangs still fails, with its log.
START_TIMEOUT = 120
LISTENING = re.compile(r"dfs (namenode|datanode) listening on ([0-9.]+):(\d+)")


def source_twistd(role, args):
    """The command and environment that run ``role`` from this checkout (its plugin file on PYTHONPATH)."""
    return twistd_command(role, args), twistd_env()


def launcher_of(code):
    """Runs a role from the tree ``code`` (another release's dfs/ and twisted/): first on PYTHONPATH, and ``-P``
    keeps the working directory (this checkout, maybe) off the path, so its dfs package and its twistd plugin file
    are the ones found."""

    def launch(role, args):
        python, *rest = twistd_command(role, args)
        return [python, "-P", *rest], dict(os.environ, PYTHONPATH=str(code))

    return launch


class Process:
    """One twistd process; its log goes to a file the test can read. ``launcher(role, args)`` gives the command and
    environment (default: this checkout's)."""

    def __init__(self, role, args, log_path, launcher=source_twistd, cwd=None):
        self.role, self.args, self.log_path = role, list(args), log_path
        self.launcher, self.cwd = launcher, cwd
        self.popen = None
        self.port = None

    def start(self, timeout=START_TIMEOUT):
        self.port = None
        offset = os.path.getsize(self.log_path) if os.path.exists(self.log_path) else 0
        log = open(self.log_path, "ab")
        command, env = self.launcher(self.role, self.args)
        self.popen = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.cwd)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                match = LISTENING.search(f.read().decode("utf-8", "replace"))
            if match:
                self.port = int(match.group(3))
                return self
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.role} exited {self.popen.returncode}:\n{self.log()[-3000:]}")
            time.sleep(0.05)
        raise RuntimeError(f"{self.role} was not listening after {timeout} s:\n{self.log()[-3000:]}")

    @property
    def url(self):
        scheme = "https" if any(arg.startswith("ssl:") for arg in self.args) else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def restart_on_same_port(self):
        self.args[self.args.index("--listen") + 1] = f"tcp:{self.port}:interface=127.0.0.1"
        return self.start()

    @property
    def pid(self):
        return self.popen.pid

    def running(self):
        return self.popen is not None and self.popen.poll() is None

    def signal(self, sig):
        if self.running():
            os.kill(self.popen.pid, sig)

    def stop(self, sig=signals.SIGTERM, timeout=15):
        if self.running():
            os.kill(self.popen.pid, sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()

    def kill(self):
        self.stop(signals.SIGKILL)

    def log(self):
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()


class Cluster:
    """A namenode and ``datanodes`` datanodes under ``root``; fast heartbeats so state changes show in seconds.

    ``namenodes`` > 1 starts that many namenodes (on one database: give ``--db-url``) and hands every datanode the
    list; ``namenode`` is the first, and ``url`` its URL.

    On a cluster with a secret, ``token`` is what the fixture itself shows the namenode; with ``ssl:`` endpoints,
    ``ca_file`` is the CA it trusts. ``launcher`` is handed to every Process (default: this checkout's code)."""

    def __init__(self, root, datanodes=3, namenode_args=(), datanode_args=(), heartbeat=0.5, token=None,
                 ca_file=None, launcher=source_twistd, namenodes=1):
        self.root = str(root)
        self.token, self.ca_file = token, ca_file
        self.launcher = launcher
        os.makedirs(os.path.join(self.root, "logs"), exist_ok=True)
        self.namenodes = [Process("dfs-namenode", [
            "--listen", "tcp:0:interface=127.0.0.1", "--db", os.path.join(self.root, "namenode.sqlite"),
            "--heartbeat", str(heartbeat), "--stale-after", "3", "--dead-after", "6", "--repair-interval", "0.5",
            # History off unless a test turns it on: GC tests expect deleted blocks to go after the grace alone.
            "--safemode-extension", "0.5", "--history-retention", "0", *namenode_args,
        ], os.path.join(self.root, "logs", "namenode.log" if i == 0 else f"namenode{i}.log"), launcher)
            for i in range(namenodes)]
        self.namenode = self.namenodes[0]
        self.datanode_args = list(datanode_args)
        self.heartbeat = heartbeat
        self.datanodes = []
        self.count = datanodes

    def start(self):
        for namenode in self.namenodes:
            namenode.start()
        for _ in range(self.count):
            self.add_datanode()
        for namenode in self.namenodes:  # each counts the datanodes that reported to it
            self.wait_for(lambda s: s["totals"]["alive"] >= self.count and not s["totals"]["safemode"],
                          url=namenode.url, what=f"every datanode alive at {namenode.url}")
        return self

    def add_datanode(self, extra=()):
        i = len(self.datanodes)
        node = Process("dfs-datanode", [
            "--listen", "tcp:0:interface=127.0.0.1", "--root", os.path.join(self.root, f"datanode{i}"),
            "--namenode", self.urls, "--heartbeat", str(self.heartbeat), *self.datanode_args, *extra,
        ], os.path.join(self.root, "logs", f"datanode{i}.log"), self.launcher)
        self.datanodes.append(node.start())
        return node

    def restart_namenode(self, sig=signals.SIGTERM):
        """Stop (or kill) and start the namenode on the same database and port, so datanodes find it again."""
        self.namenode.stop(sig)
        self.namenode.restart_on_same_port()

    def restart_datanode(self, i, sig=signals.SIGTERM):
        self.datanodes[i].stop(sig)
        self.datanodes[i].restart_on_same_port()

    def datanode_root(self, i):
        args = self.datanodes[i].args
        return args[len(args) - 1 - args[::-1].index("--root") + 1]

    def block_files(self, i):
        """{block id: path} of the blocks datanode ``i`` holds on disk."""
        blocks = os.path.join(self.datanode_root(i), "blocks")
        return {name: os.path.join(blocks, prefix, name) for prefix in os.listdir(blocks)
                for name in os.listdir(os.path.join(blocks, prefix)) if BLOCK_ID.match(name)}

    def put(self, path, data, **params):
        """Create the file ``path`` holding ``data`` in one request (CREATE with data=true, ``params`` added)."""
        r = requests.put(self.url + "/webhdfs/v1" + path, params={"op": "CREATE", "data": "true", **params},
                         data=data, headers={"Content-Type": "application/octet-stream"}, timeout=60)
        assert r.status_code == 201, r.text

    def fsck(self, path="/"):
        return self.get_json("/cluster/fsck?path=" + path, timeout=10)

    @property
    def url(self):
        return self.namenode.url

    @property
    def urls(self):
        """Every namenode's URL, comma-separated (what datanodes and clients are given)."""
        return ",".join(namenode.url for namenode in self.namenodes)

    def status(self, url=None):
        return self.get_json("/cluster", url=url)

    def get_json(self, path, timeout=5, url=None):
        """The JSON answer to GET ``path`` from the first namenode (or the one at ``url``)."""
        request = urllib.request.Request((url or self.url) + path)
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        context = ssl.create_default_context(cafile=self.ca_file) if self.ca_file else None
        with urllib.request.urlopen(request, timeout=timeout, context=context) as r:
            return json.load(r)

    def wait_for(self, predicate, timeout=30, what="cluster state", url=None):
        """Until the status of the first namenode (or the one at ``url``) satisfies ``predicate``."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                last = self.status(url)
                if predicate(last):
                    return last
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}; last status: {json.dumps(last)[:2000]}")

    def datanode_total(self, name, **labels):
        """The sum over the datanodes of one counter of their /metrics (``dfs_read_bytes_total``: file bytes
        they sent to readers)."""
        return sum(_metric(node.url, name, labels) for node in self.datanodes)

    def namenode_total(self, name, **labels):
        """One counter of the namenode's /metrics (``dfs_http_requests_total`` with ``op=``: requests it answered)."""
        return _metric(self.url, name, labels)

    def stop(self):
        for node in self.datanodes:
            node.stop()
        for namenode in self.namenodes:
            namenode.stop()

    def logs(self):
        return {p.log_path: p.log() for p in [*self.namenodes, *self.datanodes]}


def _metric(url, name, labels):
    """The sum of the samples of metric ``name`` whose labels include ``labels``, from the /metrics at ``url``."""
    with urllib.request.urlopen(url + "/metrics", timeout=10) as r:
        text = r.read().decode()
    return sum(sample.value for family in text_string_to_metric_families(text)
               for sample in family.samples if sample.name == name and labels.items() <= sample.labels.items())


def wait_for_lines(path, endings, timeout=30):
    """The audit file's lines once one ends with each of ``endings`` (a writer thread writes them)."""
    deadline = time.monotonic() + timeout
    while True:
        with open(path, encoding="utf-8") as f:
            lines = f.readlines()
        if all(any(line.endswith(ending) for line in lines) for ending in endings) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    for ending in endings:
        assert any(line.endswith(ending) for line in lines), (ending, lines[-10:])
    return lines
