#!/usr/bin/env python3
"""Workload (h) on dfs alone with the CPU each process spends per read (issue 24, session 10): one devcluster of the
checkout under test, a fresh 128 MiB file, then per run 2,000 random 4 KiB reads over HTTP (OPEN → 307 → datanode,
4 aiohttp clients) and through a fresh mount (cold page cache, POSIX_FADV_RANDOM), every read checked.

    bench/.venv/bin/python bench/issue24/reads_cpu.py --repo /work/main --runs 3

Prints one line per run and mode: reads/s, the load average, and the milliseconds of CPU (user+system, from psutil)
that the namenode, all datanodes together and the mount spent per read. The datanodes' scrubbers are off
(DFS_SCRUB_RATE=0): their re-reading of the fresh file would otherwise count as CPU of the reads.
"""

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import aiohttp
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import processes  # noqa: E402
import workloads  # noqa: E402
from systems import DfsCluster  # noqa: E402

READ = 4096


def cpu(pids):
    total = {}
    for label, pid in pids.items():
        try:
            t = psutil.Process(pid).cpu_times()
            total[label] = t.user + t.system
        except psutil.Error:
            total[label] = 0.0
    return total


def roles(pids):
    """namenode / datanodes / mount groups of the labelled pids."""
    grouped = {}
    for label, pid in pids.items():
        role = "datanodes" if "datanode" in label else label.split()[-1]
        grouped.setdefault(role, {})[label] = pid
    return grouped


def measured(pids, reads, action):
    groups = roles(pids)
    before = {role: cpu(p) for role, p in groups.items()}
    rate = action()
    after = {role: cpu(p) for role, p in groups.items()}
    per_read = {role: sum(after[role].values()) - sum(before[role].values()) for role in groups}
    return rate, {role: 1000 * seconds / reads for role, seconds in per_read.items()}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repo", required=True)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--reads", type=int, default=2000)
    p.add_argument("--size-mib", type=int, default=128)
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--port", type=int, default=8680)
    p.add_argument("--no-fuse", action="store_true")
    a = p.parse_args()
    os.environ["DFS_SCRUB_RATE"] = "0"
    repo = Path(a.repo)
    work = Path(tempfile.mkdtemp(prefix="reads-cpu-"))
    cluster = DfsCluster(repo, repo / ".venv" / "bin" / "python", work, port=a.port)
    cluster.start()
    size = a.size_mib << 20
    source = work / "source.bin"
    workloads.make_random_file(source, size)
    path = "/bench-random/big.bin"
    server = {k: v for k, v in cluster.processes().items() if "devcluster" not in k}
    rows = []
    try:
        async def upload():
            async with aiohttp.ClientSession() as s:
                with open(source, "rb") as f:
                    await cluster.client.put(s, path, f.read(), size)
        asyncio.run(upload())
        # Every HTTP run first, from the page cache the upload filled (as bench/run.py's run does); then the FUSE
        # runs, each from a cold cache.
        for run in range(a.runs):
            offsets = workloads.random_offsets(size, a.reads, READ, seed=run)

            rate, per = measured(server, a.reads, lambda: asyncio.run(workloads.random_reads_http(
                cluster.client, path, source, offsets, READ, a.clients)))
            rows.append(("http", run, rate, per, os.getloadavg()[0]))
            print(f"run {run + 1} http: {rate:7.1f} reads/s  load {os.getloadavg()[0]:.1f}  CPU ms/read "
                  + " ".join(f"{k} {v:.3f}" for k, v in sorted(per.items())), flush=True)
        for run in range(0 if a.no_fuse else a.runs):
            offsets = workloads.random_offsets(size, a.reads, READ, seed=run)
            mountpoint, cache = work / "mnt", work / "cache"
            mountpoint.mkdir(exist_ok=True)
            cache.mkdir(exist_ok=True)
            proc = processes.start(cluster.mount_argv(mountpoint, cache), work / "mount.log", env=cluster.env())
            try:
                processes.wait_until(lambda: os.path.ismount(mountpoint) or proc.poll() is not None, 60, "mount")
                pids = dict(server, **{"dfs mount": proc.pid})
                rate, per = measured(pids, a.reads, lambda: workloads.random_reads_fuse(
                    mountpoint / path.lstrip("/"), source, offsets, READ, a.clients))
                rows.append(("fuse", run, rate, per, os.getloadavg()[0]))
                print(f"run {run + 1} fuse: {rate:7.1f} reads/s  load {os.getloadavg()[0]:.1f}  CPU ms/read "
                      + " ".join(f"{k} {v:.3f}" for k, v in sorted(per.items())), flush=True)
            finally:
                os.system(f"fusermount -u {mountpoint} 2>/dev/null || umount -l {mountpoint}")
                processes.stop(proc, grace=30)
                shutil.rmtree(cache, ignore_errors=True)
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)
    for mode in ("http", "fuse"):
        mine = [r for r in rows if r[0] == mode]
        if mine:
            cols = sorted(mine[0][3])
            print(f"{mode} median: {statistics.median(r[2] for r in mine):.1f} reads/s; CPU ms/read "
                  + " ".join(f"{c} {statistics.median(r[3][c] for r in mine):.3f}" for c in cols))


if __name__ == "__main__":
    main()
