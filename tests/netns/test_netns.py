"""Many hosts without containers: the namenode, three datanodes and the client each run in a network namespace of
their own, joined by a bridge; datanodes advertise their own addresses, and one of them is cut off and healed."""

import hashlib
import json
import os
import sys
import time
from pathlib import Path

import pytest

import netns_topology
from netns_topology import Topology

REPO = Path(__file__).resolve().parent.parent.parent
DATANODES = ["datanode1", "datanode2", "datanode3"]
NAMENODE_PORT = 8180
DATANODE_PORT = 8181
PATH = "/netns/payload.bin"

_reason = netns_topology.unavailable_reason()
pytestmark = pytest.mark.skipif(_reason is not None, reason=str(_reason))


class NetnsCluster:
    def __init__(self, topology, workdir):
        self.topology = topology
        self.workdir = workdir
        self.namenode = topology.hosts["namenode"]
        self.namenode_url = f"http://{self.namenode.address}:{NAMENODE_PORT}"

    def base_env(self):
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": str(REPO),
            "PYTHONUNBUFFERED": "1",
            "HOME": str(self.workdir),
            # Every server listens beyond loopback on a network only this test can reach.
            "DFS_INSECURE": "1",
            "DFS_HEARTBEAT": "1",
            "DFS_STALE_AFTER": "4",
            "DFS_DEAD_AFTER": "8",
        }

    def start_namenode(self):
        host = self.namenode
        state = self.workdir / "namenode"
        state.mkdir()
        self.topology.spawn("namenode", [sys.executable, "-m", "twisted", "dfs-namenode"], {
            **self.base_env(),
            "DFS_HOST": host.address,
            "DFS_PORT": str(NAMENODE_PORT),
            "DFS_DB_PATH": str(state / "namenode.sqlite3"),
        }, self.workdir / "namenode.log")

    def start_datanode(self, name):
        host = self.topology.hosts[name]
        root = self.workdir / name
        root.mkdir(exist_ok=True)
        self.topology.spawn(name, [sys.executable, "-m", "twisted", "dfs-datanode"], {
            **self.base_env(),
            "DFS_HOST": host.address,
            "DFS_PORT": str(DATANODE_PORT),
            "DFS_FS_ROOT": str(root),
            "DFS_NAMENODE_URL": self.namenode_url,
            "DFS_ADVERTISE_HOST": host.address,
            "DFS_PUBLIC_URL": self.public_url(name),
        }, self.workdir / f"{name}.log")

    def public_url(self, name):
        return f"http://{self.topology.hosts[name].address}:{DATANODE_PORT}"

    def curl(self, *args, timeout=60):
        """curl run by the client host, inside its namespace."""
        return self.topology.run(
            "client", ["curl", "--silent", "--show-error", "--max-time", "30", *args],
            env={"PATH": "/usr/bin:/bin"}, timeout=timeout, capture_output=True,
        )

    def status(self):
        result = self.curl("--fail", f"{self.namenode_url}/cluster")
        if result.returncode != 0:
            raise RuntimeError(result.stderr.decode())
        return json.loads(result.stdout)

    def ready(self):
        status = self.status()
        alive = [node for node in status["nodes"] if node["state"] == "alive"]
        return len(alive) == len(DATANODES) and not status.get("totals", {}).get("safemode")

    def state_of(self, name):
        for node in self.status()["nodes"]:
            if node.get("public_url", "").rstrip("/") == self.public_url(name):
                return node["state"]
        return None

    def upload(self, source, path):
        url = f"{self.namenode_url}/webhdfs/v1{path}?op=CREATE&overwrite=true&blocksize=1048576&replication=3"
        result = self.curl("--location", "--upload-file", str(source), "--write-out", "%{http_code}",
                           "--output", "/dev/null", url)
        assert result.returncode == 0, result.stderr.decode()
        return int(result.stdout)

    def download(self, path, target):
        """Read through the namenode's redirect; returns the URL that served the bytes."""
        url = f"{self.namenode_url}/webhdfs/v1{path}?op=OPEN"
        result = self.curl("--location", "--fail", "--output", str(target), "--write-out", "%{url_effective}", url)
        assert result.returncode == 0, f"{result.stderr.decode()}\n{self.logs()}"
        return result.stdout.decode()

    def server_of(self, url):
        for name in DATANODES:
            if url.startswith(self.public_url(name) + "/"):
                return name
        raise AssertionError(f"{url} is not on a datanode's public URL")

    def wait_for(self, predicate, timeout, what):
        deadline = time.monotonic() + timeout
        last_error = None
        while time.monotonic() < deadline:
            try:
                if predicate():
                    return
            except Exception as error:  # not answering yet
                last_error = error
            time.sleep(0.5)
        raise AssertionError(f"timed out after {timeout} s waiting for {what} ({last_error!r})\n{self.logs()}")

    def logs(self, lines=40):
        text = []
        for log in sorted(self.workdir.glob("*.log")):
            tail = log.read_text(errors="replace").splitlines()[-lines:]
            text.append(f"----- {log.name} -----\n" + "\n".join(tail))
        return "\n".join(text)


@pytest.fixture(scope="module")
def hosts(tmp_path_factory):
    netns_topology.sweep_abandoned()
    workdir = tmp_path_factory.mktemp("netns")
    topology = Topology()
    try:
        topology.create(["namenode", *DATANODES, "client"])
        netns_cluster = NetnsCluster(topology, workdir)
        netns_cluster.start_namenode()
        for name in DATANODES:
            netns_cluster.start_datanode(name)
        netns_cluster.wait_for(netns_cluster.ready, 60, "three datanodes alive and the namenode out of safe mode")
        yield netns_cluster
    finally:
        topology.destroy()


@pytest.fixture(scope="module")
def payload(tmp_path_factory):
    source = tmp_path_factory.mktemp("payload") / "payload.bin"
    source.write_bytes(os.urandom(3 * 1024 * 1024 + 4321))
    return source


def test_datanodes_advertise_their_own_addresses(hosts):
    advertised = sorted(node["public_url"].rstrip("/") for node in hosts.status()["nodes"])
    assert advertised == sorted(hosts.public_url(name) for name in DATANODES)


def test_client_in_its_namespace_uploads_and_reads_from_a_datanode(hosts, payload, tmp_path):
    assert hosts.upload(payload, PATH) == 201
    target = tmp_path / "read.bin"
    served_by = hosts.download(PATH, target)
    hosts.server_of(served_by)
    assert hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(payload.read_bytes()).digest()


def test_cut_off_datanode_is_avoided_then_rejoins_when_healed(hosts, payload, tmp_path):
    victim = hosts.server_of(hosts.download(PATH, tmp_path / "first.bin"))

    hosts.topology.cut(victim)
    # Cut for longer than the dead time: the namenode gives the node up, then takes it back when the link heals.
    hosts.wait_for(lambda: hosts.state_of(victim) == "dead", 60, f"{victim} marked dead")
    target = tmp_path / "while-cut.bin"
    assert hosts.server_of(hosts.download(PATH, target)) != victim
    assert target.read_bytes() == payload.read_bytes()

    hosts.topology.heal(victim)
    hosts.wait_for(lambda: hosts.state_of(victim) == "alive", 60, f"{victim} alive again")
    target = tmp_path / "healed.bin"
    hosts.download(PATH, target)
    assert target.read_bytes() == payload.read_bytes()
    hosts.wait_for(lambda: hosts.status()["totals"]["under_replicated"] == 0, 30, "full replication again")
    assert hosts.status()["totals"]["missing"] == 0
