"""A throw-away one-node docker swarm: Debian's dockerd started in a network namespace of its own.

dockerd enters only that network namespace, so its bridges, iptables rules and published ports stay there and vanish
with it. Its data root is kept between runs, like podman's image store: loading the image again and deleting some
ten thousand files would cost more than the test itself. Containers, volumes, networks and the swarm go every time.
"""

import fcntl
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import podman_cluster

STATE_ROOT = Path(os.environ.get("DFS_TEST_DOCKER_ROOT", "/var/lib/dfs-test-docker"))
NETNS_PREFIX = "dfs-swarm-"


def unavailable_reason():
    for tool in ("dockerd", "docker", "nsenter", "ip", "findmnt"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (bash .ci/container-deps installs docker.io)"
    if os.geteuid() != 0:
        return "a docker daemon needs root"
    return None


def _unmount_below(root):
    mounts = subprocess.run(["findmnt", "-rn", "-o", "TARGET"], capture_output=True, text=True).stdout.split()
    for target in sorted((m for m in mounts if m.startswith(str(root) + "/")), key=len, reverse=True):
        subprocess.run(["umount", "-l", target], capture_output=True)


def _sweep_namespaces():
    """Remove network namespaces left by an earlier run whose test process is gone."""
    netns = Path("/run/netns")
    if not netns.is_dir():
        return
    for entry in netns.iterdir():
        pid = entry.name[len(NETNS_PREFIX):]
        if entry.name.startswith(NETNS_PREFIX) and pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            subprocess.run(["ip", "netns", "del", entry.name], capture_output=True)


class Swarm:
    def __init__(self, root=STATE_ROOT):
        self.root = Path(root)
        self.netns = f"{NETNS_PREFIX}{os.getpid()}"
        self.socket = self.root / "docker.sock"
        self.pidfile = self.root / "dockerd.pid"
        self.daemon = None
        self._lock = None
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

    def in_netns(self, argv, timeout=60, env=None):
        """Run a client command inside the engine's network namespace (where the stacks publish their ports)."""
        return subprocess.run(["nsenter", f"--net=/run/netns/{self.netns}", *argv],
                              capture_output=True, timeout=timeout, env=env)

    def curl(self, *args, token=None):
        auth = ["--header", f"Authorization: Bearer {token}"] if token else []
        result = self.in_netns(["curl", "--silent", "--show-error", "--max-time", "20", *auth, *args])
        assert result.returncode == 0, result.stderr.decode()
        return result.stdout

    # -- life cycle ----------------------------------------------------------------------------------------------

    def start(self):
        self.root.mkdir(parents=True, exist_ok=True)
        # One run at a time owns the data root.
        self._lock = open(self.root / "lock", "w")
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        self._stop_abandoned_daemon()
        _sweep_namespaces()
        _unmount_below(self.root / "exec")
        shutil.rmtree(self.root / "exec", ignore_errors=True)

        subprocess.run(["ip", "netns", "add", self.netns], check=True, capture_output=True)
        subprocess.run(["ip", "-n", self.netns, "link", "set", "lo", "up"], check=True, capture_output=True)
        log = open(self.root / "dockerd.log", "wb")
        # nsenter, not `ip netns exec`: the latter remounts /sys and dockerd then finds no cgroups.
        self.daemon = subprocess.Popen(
            ["nsenter", f"--net=/run/netns/{self.netns}", "dockerd",
             "--data-root", str(self.root / "data"),
             "--exec-root", str(self.root / "exec"),
             "--pidfile", str(self.pidfile),
             "--host", f"unix://{self.socket}",
             "--shutdown-timeout", "3",
             "--log-level", "warn"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + 60
        while self.docker("info", check=False, timeout=10).returncode != 0:
            if self.daemon.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"dockerd did not come up\n{self.daemon_log()}")
            time.sleep(0.5)
        self._clear()  # whatever an interrupted run left in the data root
        self.docker("swarm", "init", "--advertise-addr", "127.0.0.1")

    def _stop_abandoned_daemon(self):
        """A dockerd that an interrupted run of this test left running on this data root."""
        try:
            pid = int(self.pidfile.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            return
        if Path(cmdline[0].decode()).name == "dockerd" and str(self.root / "data").encode() in cmdline:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 30
            while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
                time.sleep(0.2)

    def _clear(self):
        self.docker("swarm", "leave", "--force", check=False)
        leftover = self.docker("ps", "-aq", check=False).stdout.split()
        if leftover:
            self.docker("rm", "--force", "--volumes", *leftover, check=False)
        for kind in ("volume", "network", "image"):
            self.docker(kind, "prune", "--force", check=False)

    def destroy(self):
        try:
            if self.daemon is not None and self.daemon.poll() is None:
                self._clear()
                self.daemon.send_signal(signal.SIGTERM)
                try:
                    self.daemon.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    self.daemon.kill()
                    self.daemon.wait()
            _unmount_below(self.root)
            shutil.rmtree(self.root / "exec", ignore_errors=True)
            subprocess.run(["ip", "netns", "del", self.netns], capture_output=True)
            if self._made_run_docker:
                # dockerd makes /run/docker/plugins whatever its exec root is.
                for empty in (Path("/run/docker/plugins"), Path("/run/docker")):
                    try:
                        empty.rmdir()
                    except OSError:
                        pass
        finally:
            if self._lock is not None:
                self._lock.close()

    # -- images and deployments ----------------------------------------------------------------------------------

    def load_from_podman(self, image, podman_env):
        """Copy the image from podman's store unless this engine already has that very image."""
        wanted = subprocess.run(["podman", "image", "inspect", "--format", "{{.Id}}", image],
                                capture_output=True, text=True, env=podman_env, check=True).stdout.strip()
        present = self.docker("image", "inspect", "--format", "{{.Id}}", image, check=False).stdout.strip()
        if present.removeprefix("sha256:") == wanted:
            return False
        saver = subprocess.Popen(["podman", "save", "--format", "docker-archive", image],
                                 stdout=subprocess.PIPE, env=podman_env)
        try:
            self.docker("load", stdin=saver.stdout, timeout=300)
        finally:
            saver.stdout.close()
            saver.wait()
        return True

    def deploy(self, stack_files, name, env):
        """Deploy one stack file, or several layered in order (``docker stack deploy -c A -c B``)."""
        files = [stack_files] if isinstance(stack_files, (str, Path)) else list(stack_files)
        # The image exists only on this node: never ask a registry for it.
        self.docker("stack", "deploy", "--resolve-image", "never", *[arg for f in files for arg in ("-c", str(f))],
                    name, env=env, cwd=str(Path(files[0]).parent))

    def containers(self, name_filter):
        listed = self.docker("ps", "--filter", f"name={name_filter}", "--format", "{{.Names}}\t{{.Status}}")
        return dict(line.split("\t", 1) for line in listed.stdout.splitlines() if line)

    def container(self, name_filter, service):
        """The one running container whose name holds ``service``."""
        (name,) = [name for name in self.containers(name_filter) if service in name]
        return name

    def token(self, name_filter):
        """A client token, minted inside a namenode's container from the secret the deployment gave it."""
        namenode = sorted(name for name in self.containers(name_filter) if "namenode" in name)[0]
        minted = self.docker("exec", namenode, "python3", "-m", "dfs.security", "token", "create", "--expires", "1h")
        return minted.stdout.strip()

    def wait(self, name_filter, predicate, timeout, what):
        """podman_cluster.wait_for, failing with the state and the last log lines of the matching containers."""
        try:
            return podman_cluster.wait_for(predicate, timeout, what)
        except AssertionError as error:
            logs = "\n".join(
                self.docker("logs", "--tail", "30", name, check=False).stdout
                + self.docker("logs", "--tail", "30", name, check=False).stderr
                for name in self.containers(name_filter)
            )
            raise AssertionError(f"{error}\n{self.containers(name_filter)}\n{logs}") from None

    def daemon_log(self, lines=30):
        try:
            return "\n".join((self.root / "dockerd.log").read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""
