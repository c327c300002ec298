"""A throw-away one-node docker swarm: Debian's dockerd started in a network namespace of its own.

dockerd enters only that network namespace, so its bridges, iptables rules and published ports stay there and vanish
with it; its state lives in a directory of its own, removed afterwards. Clients reach the stack from inside the same
namespace on 127.0.0.1.
"""

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

STATE_PARENT = Path("/var/tmp")
STATE_PREFIX = "dfs-swarm-"
NETNS_PREFIX = "dfs-swarm-"


def unavailable_reason():
    for tool in ("dockerd", "docker", "nsenter", "ip"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (bash .ci/container-deps installs docker.io)"
    if os.geteuid() != 0:
        return "a docker daemon needs root"
    return None


def _pid_is_gone(name, prefix):
    pid = name[len(prefix):]
    return pid.isdigit() and not os.path.exists(f"/proc/{pid}")


def sweep_abandoned():
    """Remove namespaces and state directories left by an earlier run whose test process is gone."""
    for entry in STATE_PARENT.glob(STATE_PREFIX + "*"):
        if _pid_is_gone(entry.name, STATE_PREFIX):
            _unmount_below(entry)
            shutil.rmtree(entry, ignore_errors=True)
    netns = Path("/run/netns")
    if netns.is_dir():
        for entry in netns.iterdir():
            if entry.name.startswith(NETNS_PREFIX) and _pid_is_gone(entry.name, NETNS_PREFIX):
                subprocess.run(["ip", "netns", "del", entry.name], capture_output=True)


def _unmount_below(root):
    mounts = subprocess.run(["findmnt", "-rn", "-o", "TARGET"], capture_output=True, text=True).stdout.split()
    for target in sorted((m for m in mounts if m.startswith(str(root) + "/")), key=len, reverse=True):
        subprocess.run(["umount", "-l", target], capture_output=True)


class Swarm:
    def __init__(self):
        self.netns = f"{NETNS_PREFIX}{os.getpid()}"
        self.root = STATE_PARENT / f"{STATE_PREFIX}{os.getpid()}"
        self.socket = self.root / "docker.sock"
        self.daemon = None
        self._made_run_docker = not Path("/run/docker").exists()

    def env(self):
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "DOCKER_HOST": f"unix://{self.socket}",
            "DOCKER_CONFIG": str(self.root / "client"),
        }

    def docker(self, *args, check=True, timeout=120, env=None, **kwargs):
        result = subprocess.run(
            ["docker", *args], capture_output=True, text=True, timeout=timeout,
            env={**self.env(), **(env or {})}, **kwargs,
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args)} failed: {result.stderr.strip()}\n{self.daemon_log()}")
        return result

    def in_netns(self, argv, timeout=60):
        """Run a client command inside the swarm's network namespace."""
        return subprocess.run(["nsenter", f"--net=/run/netns/{self.netns}", *argv],
                              capture_output=True, timeout=timeout)

    def start(self):
        self.root.mkdir(parents=True)
        subprocess.run(["ip", "netns", "add", self.netns], check=True, capture_output=True)
        subprocess.run(["ip", "-n", self.netns, "link", "set", "lo", "up"], check=True, capture_output=True)
        log = open(self.root / "dockerd.log", "wb")
        # nsenter, not `ip netns exec`: the latter remounts /sys and dockerd then finds no cgroups.
        self.daemon = subprocess.Popen(
            ["nsenter", f"--net=/run/netns/{self.netns}", "dockerd",
             "--data-root", str(self.root / "data"),
             "--exec-root", str(self.root / "exec"),
             "--pidfile", str(self.root / "dockerd.pid"),
             "--host", f"unix://{self.socket}",
             "--log-level", "warn"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + 60
        while self.docker("info", check=False, timeout=10).returncode != 0:
            if self.daemon.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"dockerd did not come up\n{self.daemon_log()}")
            time.sleep(0.5)
        self.docker("swarm", "init", "--advertise-addr", "127.0.0.1")

    def load_from_podman(self, image, podman_env):
        saver = subprocess.Popen(["podman", "save", image], stdout=subprocess.PIPE, env=podman_env)
        try:
            self.docker("load", stdin=saver.stdout, timeout=300)
        finally:
            saver.stdout.close()
            saver.wait()

    def deploy(self, stack_file, name, env):
        # The image exists only on this node: never ask a registry for it.
        self.docker("stack", "deploy", "--resolve-image", "never", "-c", str(stack_file), name,
                    env=env, cwd=str(Path(stack_file).parent))

    def containers(self, name_filter):
        listed = self.docker("ps", "--filter", f"name={name_filter}", "--format", "{{.Names}}\t{{.Status}}")
        return dict(line.split("\t", 1) for line in listed.stdout.splitlines() if line)

    def daemon_log(self, lines=30):
        try:
            return "\n".join((self.root / "dockerd.log").read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def destroy(self, stack_name=None):
        if self.daemon is not None and self.daemon.poll() is None:
            if stack_name:
                self.docker("stack", "rm", stack_name, check=False)
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline and self.docker("ps", "-aq", check=False).stdout.strip():
                    time.sleep(0.5)
            leftover = self.docker("ps", "-aq", check=False).stdout.split()
            if leftover:
                self.docker("rm", "--force", "--volumes", *leftover, check=False)
            self.docker("swarm", "leave", "--force", check=False)
            self.daemon.send_signal(signal.SIGTERM)
            try:
                self.daemon.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait()
        _unmount_below(self.root)
        shutil.rmtree(self.root, ignore_errors=True)
        subprocess.run(["ip", "netns", "del", self.netns], capture_output=True)
        if self._made_run_docker:
            # dockerd makes /run/docker/plugins whatever its exec root is.
            for empty in (Path("/run/docker/plugins"), Path("/run/docker")):
                try:
                    empty.rmdir()
                except OSError:
                    pass
