"""Hosts made of Linux network namespaces joined by a bridge that lives in a namespace of its own.

Nothing is added to the machine's own network namespace: every address exists only inside the
namespaces this module creates, and `destroy()` removes them.
"""

import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field

SUBNET_PREFIX = "10.77.0."
NETNS_DIR = "/run/netns"
_NAME_PATTERN = re.compile(r"^dfs-t(\d+)-")


def unavailable_reason():
    """Why namespaces cannot be made here, or None when they can."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    for tool, package in (("ip", "iproute2"), ("curl", "curl")):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install {package}, or bash .ci/container-deps)"
    probe = f"dfs-t{os.getpid()}-probe"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"cannot create a network namespace: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def sweep_abandoned():
    """Remove namespaces left by an earlier run whose test process is gone."""
    try:
        names = os.listdir(NETNS_DIR)
    except FileNotFoundError:
        return
    for name in names:
        match = _NAME_PATTERN.match(name)
        if match and not os.path.exists(f"/proc/{match.group(1)}"):
            subprocess.run(["ip", "netns", "del", name], capture_output=True)


def _ip(*args):
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


@dataclass
class Host:
    name: str
    namespace: str
    address: str
    switch_port: str
    processes: list = field(default_factory=list)


class Topology:
    """A switch namespace with a bridge, and one namespace per host plugged into it by a veth pair."""

    def __init__(self):
        self.prefix = f"dfs-t{os.getpid()}-"
        self.switch = self.prefix + "switch"
        self.hosts = {}

    def create(self, names):
        """Make one host per name, addressed 10.77.0.2, .3, ... in the order given."""
        _ip("netns", "add", self.switch)
        self._namespaces_made = [self.switch]
        _ip("-n", self.switch, "link", "set", "lo", "up")
        _ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.switch, "link", "set", "br0", "up")
        for index, name in enumerate(names):
            host = Host(
                name=name,
                namespace=self.prefix + name,
                address=f"{SUBNET_PREFIX}{index + 2}",
                switch_port=f"port{index}",
            )
            _ip("netns", "add", host.namespace)
            self._namespaces_made.append(host.namespace)
            _ip("-n", host.namespace, "link", "set", "lo", "up")
            # Both ends are created inside namespaces: the veth never appears in the machine's own one.
            _ip("-n", self.switch, "link", "add", host.switch_port,
                "type", "veth", "peer", "name", "eth0", "netns", host.namespace)
            _ip("-n", self.switch, "link", "set", host.switch_port, "master", "br0")
            _ip("-n", self.switch, "link", "set", host.switch_port, "up")
            _ip("-n", host.namespace, "addr", "add", f"{host.address}/24", "dev", "eth0")
            _ip("-n", host.namespace, "link", "set", "eth0", "up")
            self.hosts[name] = host
        return self

    def cut(self, name):
        """Unplug a host from the switch: its packets are dropped, its processes keep running."""
        _ip("-n", self.switch, "link", "set", self.hosts[name].switch_port, "down")

    def heal(self, name):
        _ip("-n", self.switch, "link", "set", self.hosts[name].switch_port, "up")

    def command(self, name, argv, env=None):
        """The argv that runs `argv` inside a host's namespace with exactly `env`."""
        env_args = [f"{key}={value}" for key, value in (env or {}).items()]
        return ["ip", "netns", "exec", self.hosts[name].namespace, "env", "-i", *env_args, *argv]

    def spawn(self, name, argv, env, log_path):
        """Start a long-running process in a host's namespace, output to log_path."""
        log = open(log_path, "wb")
        process = subprocess.Popen(
            self.command(name, argv, env),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        self.hosts[name].processes.append(process)
        return process

    def run(self, name, argv, env=None, timeout=60, **kwargs):
        """Run a short command in a host's namespace and wait for it."""
        return subprocess.run(self.command(name, argv, env), timeout=timeout, **kwargs)

    def stop_processes(self, name, timeout=10):
        """Stop the processes this topology started on one host: SIGTERM, then SIGKILL."""
        processes = self.hosts[name].processes
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for process in processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        processes.clear()

    def destroy(self):
        for name in list(self.hosts):
            self.stop_processes(name)
        for namespace in reversed(getattr(self, "_namespaces_made", [])):
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True)
        self.hosts.clear()
