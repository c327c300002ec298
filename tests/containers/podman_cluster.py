"""A dfs cluster as podman containers: one namenode and N datanodes, each at a fixed address on a private network.

The network has no DNS (podman's resolver stalls when the bridge changes its MAC as containers come and go):
every container gets a fixed IP and MAC, and names through --add-host. Ports are published on 127.0.0.1 only.
"""

import json
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
IMAGE = os.environ.get("DFS_TEST_IMAGE", "localhost/dfs:test")
NAME_PREFIX = "dfs-ct"
NAMENODE_PORT = 8180
DATANODE_PORT = 8181


def podman_env():
    env = dict(os.environ)
    env.setdefault("CONTAINERS_CONF", str(HERE / "containers.conf"))
    return env


def podman(*args, check=True, timeout=120):
    """Run podman; on failure raise with its stderr, which says what went wrong."""
    result = subprocess.run(
        ["podman", *args], capture_output=True, text=True, timeout=timeout, env=podman_env()
    )
    if check and result.returncode != 0:
        raise RuntimeError(f"podman {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
    return result


def unavailable_reason():
    if shutil.which("podman") is None:
        return "podman is not installed (bash .ci/container-deps installs it)"
    if os.geteuid() != 0:
        return "the container tests run rootful podman (fixed addresses on a bridge network need root)"
    for tool in ("mmdebstrap", "runc"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (bash .ci/container-deps installs it)"
    return None


_build_report = None


def build_image():
    """Build the base (cached) and the project's image once per test session; return what the scripts reported."""
    global _build_report
    if _build_report is not None:
        return _build_report
    result = subprocess.run(
        [str(HERE / "build-image.sh"), IMAGE],
        capture_output=True, text=True, timeout=900, env=podman_env(),
    )
    if result.returncode != 0:
        raise RuntimeError(f"image build failed:\n{result.stderr[-4000:]}\n{result.stdout[-2000:]}")
    _build_report = result.stdout.strip()
    return _build_report


def free_loopback_ports(count):
    """Ports free on 127.0.0.1 right now (held open together so they differ)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _pid_is_gone(name):
    parts = name.split("-")
    return len(parts) > 2 and parts[2].isdigit() and not os.path.exists(f"/proc/{parts[2]}")


def sweep_abandoned():
    """Remove containers and networks left by an earlier run whose test process is gone."""
    listed = podman("ps", "-a", "--format", "{{.Names}}", "--filter", f"name=^{NAME_PREFIX}-", check=False)
    for name in listed.stdout.split():
        if _pid_is_gone(name):
            podman("rm", "-f", "-v", "-t", "0", name, check=False)
    networks = podman("network", "ls", "--format", "{{.Name}}", check=False)
    for name in networks.stdout.split():
        if name.startswith(f"{NAME_PREFIX}-") and _pid_is_gone(name):
            podman("network", "rm", "-f", name, check=False)


@dataclass
class Node:
    name: str          # role name inside the cluster: namenode, datanode1, ...
    container: str
    address: str       # on the private network
    mac: str
    host_port: int     # published on 127.0.0.1

    @property
    def local_url(self):
        return f"http://127.0.0.1:{self.host_port}"


class PodmanCluster:
    def __init__(self, datanodes=3, env=None):
        self.prefix = f"{NAME_PREFIX}-{os.getpid()}"
        self.network = self.prefix
        self.extra_env = dict(env or {})
        self.datanode_count = datanodes
        self.nodes = {}
        self.subnet = None

    # -- network -----------------------------------------------------------------------------------------------

    def create_network(self):
        # A /24 in 10.78.0.0/16 chosen from the pid; move on when another network already uses it.
        for attempt in range(16):
            third = (os.getpid() + attempt * 37) % 250 + 2
            subnet = f"10.78.{third}"
            made = podman(
                "network", "create", "--disable-dns",
                "--subnet", f"{subnet}.0/24", "--gateway", f"{subnet}.1",
                self.network, check=False,
            )
            if made.returncode == 0:
                self.subnet = subnet
                return
        raise RuntimeError(f"no free subnet for {self.network}: {made.stderr.strip()}")

    # -- containers --------------------------------------------------------------------------------------------

    def plan(self):
        ports = free_loopback_ports(1 + self.datanode_count)
        names = ["namenode"] + [f"datanode{i}" for i in range(1, self.datanode_count + 1)]
        for index, (name, port) in enumerate(zip(names, ports)):
            self.nodes[name] = Node(
                name=name,
                container=f"{self.prefix}-{name}",
                address=f"{self.subnet}.{10 + index}",
                mac=f"02:42:0a:4e:{int(self.subnet.rsplit('.', 1)[1]):02x}:{10 + index:02x}",
                host_port=port,
            )

    def _run(self, node, command, env):
        hosts = [f"--add-host={other.name}:{other.address}" for other in self.nodes.values()]
        env_args = [f"--env={key}={value}" for key, value in {**env, **self.extra_env}.items()]
        podman(
            "run", "--detach", "--init",
            "--name", node.container,
            "--hostname", node.name,
            "--network", self.network,
            "--ip", node.address,
            "--mac-address", node.mac,
            *hosts,
            # podman runs healthchecks from systemd timers, absent here: the test runs them itself.
            "--health-interval=disable",
            "--publish", f"127.0.0.1:{node.host_port}:{DATANODE_PORT if command == 'dfs-datanode' else NAMENODE_PORT}",
            *env_args,
            IMAGE, command,
        )

    def start(self):
        self.create_network()
        self.plan()
        namenode = self.nodes["namenode"]
        self._run(namenode, "dfs-namenode", {"DFS_PORT": NAMENODE_PORT})
        for node in self.datanodes():
            self._run(node, "dfs-datanode", {
                "DFS_PORT": DATANODE_PORT,
                "DFS_NAMENODE_URL": f"http://namenode:{NAMENODE_PORT}",
                "DFS_ADVERTISE_HOST": node.address,
                # Reads are redirected here: the port the host reaches this container on.
                "DFS_PUBLIC_URL": node.local_url,
            })

    def datanodes(self):
        return [node for name, node in self.nodes.items() if name != "namenode"]

    def node_by_public_url(self, url):
        for node in self.datanodes():
            if url.rstrip("/") == node.local_url:
                return node
        raise KeyError(url)

    def stop(self, name):
        podman("stop", "--time", "10", self.nodes[name].container)

    def start_again(self, name):
        podman("start", self.nodes[name].container)

    def is_running(self, name):
        state = podman("inspect", "--format", "{{.State.Running}}", self.nodes[name].container, check=False)
        return state.stdout.strip() == "true"

    def healthcheck(self, name):
        """Run the image's HEALTHCHECK once; True when it passed."""
        return podman("healthcheck", "run", self.nodes[name].container, check=False).returncode == 0

    def exec(self, name, *argv):
        return podman("exec", self.nodes[name].container, *argv, check=False)

    def logs(self, tail=60):
        text = []
        for node in self.nodes.values():
            out = podman("logs", "--tail", str(tail), node.container, check=False)
            text.append(f"----- {node.container} -----\n{out.stdout}{out.stderr}")
        return "\n".join(text)

    def destroy(self):
        for node in self.nodes.values():
            podman("rm", "--force", "--volumes", "--time", "2", node.container, check=False)
        if self.subnet is not None:
            podman("network", "rm", "--force", self.network, check=False)


def wait_for(predicate, timeout, what, interval=0.5):
    """Poll until predicate() is truthy; return its value or fail saying what was awaited."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as error:  # the service may not answer yet
            last_error = error
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last error: {last_error!r})")


def cluster_status(namenode_url, session):
    response = session.get(f"{namenode_url}/cluster", timeout=5)
    response.raise_for_status()
    return json.loads(response.text)
