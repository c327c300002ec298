#!/usr/bin/env python3
"""bench/run.py's untar and git clone (workload f, --quick size) into a `dfs mount -o writeback` of a fresh
devcluster, dfs alone, with the CPU time of every process and the namenode's requests by op (issue 24).

    /work/main/bench/.venv/bin/python bench/issue24/wback.py --checkout . --runs 1

Each run starts a devcluster of the checkout (its `dfs` on PYTHONPATH), mounts it with the given options, untars
--tar-entries entries of the standard library and clones a bare repository of --clone-files files, and prints
for each workload its time, each process's CPU seconds over it and the namenode's requests by op.
"""

import argparse
import collections
import json
import os
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil

BENCH = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BENCH))

import processes  # noqa: E402
import profiling  # noqa: E402
import workloads  # noqa: E402
from run import unmount  # noqa: E402
from systems import DfsCluster  # noqa: E402

STDLIB = sysconfig.get_paths()["stdlib"]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkout", default=".", help="a dfs work tree with its .venv")
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--options", default="writeback", help="-o options of the mount")
    p.add_argument("--tar-entries", type=int, default=1500)
    p.add_argument("--clone-files", type=int, default=1000)
    p.add_argument("--port", type=int, default=18380)
    p.add_argument("--timeout", type=float, default=900)
    p.add_argument("--profile", type=Path, help="py-spy every process during each workload into this directory")
    return p.parse_args()


def requests_by_op(url):
    """{op: count} of the namenode's answered requests so far (its metrics)."""
    counts = collections.Counter()
    with urllib.request.urlopen(url + "/metrics", timeout=30) as answer:
        text = answer.read().decode()
    for line in text.splitlines():
        if line.startswith("dfs_http_requests_total{") and 'op="' in line:
            counts[line.split('op="', 1)[1].split('"', 1)[0]] += float(line.rsplit(" ", 1)[1])
    return counts


def cpu_seconds(pids):
    found = {}
    for label, pid in pids.items():
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.Error:
            continue
        found[label] = times.user + times.system + times.children_user + times.children_system
    return found


def measured(label, url, pids, action, profile):
    requests_before, cpu_before = requests_by_op(url), cpu_seconds(pids)
    recording = profile and profiling.Recording(profiling.find_py_spy(), pids, profile, label)
    elapsed = action()
    if recording:
        for process, path in recording.stop().items():
            print(f"{label}, {process}:", *profiling.summarize(path), sep="\n")
    requests_after, cpu_after = requests_by_op(url), cpu_seconds(pids)
    figure = {
        "workload": label, "seconds": round(elapsed, 2),
        "cpu_s": {k: round(cpu_after[k] - cpu_before.get(k, 0), 2) for k in cpu_after},
        "requests": {op: int(n - requests_before.get(op, 0)) for op, n in sorted(requests_after.items())
                     if n - requests_before.get(op, 0)},
        "load": os.getloadavg(),
    }
    print(json.dumps(figure), flush=True)
    return figure


def one_run(args, work, tarball, repository):
    cluster = DfsCluster(Path(args.checkout).resolve(), Path(args.checkout).resolve() / ".venv/bin/python", work,
                         port=args.port)
    cluster.start()
    mountpoint, cache = work / "mnt", work / "cache"
    mountpoint.mkdir(exist_ok=True)
    cache.mkdir(exist_ok=True)
    argv = cluster.mount_argv(mountpoint, cache) + (["-o", args.options] if args.options else [])
    mount = processes.start(argv, work / "mount.log", env=cluster.env())
    try:
        processes.wait_until(lambda: os.path.ismount(mountpoint) or mount.poll() is not None, 60, "the mount")
        pids = {**cluster._find_children(), "mount": mount.pid}
        base = mountpoint / "b"
        base.mkdir()
        figures = [
            measured("untar", cluster.url, pids, lambda: workloads.fuse_untar(tarball, base / "untar", args.timeout),
                     args.profile),
            measured("clone", cluster.url, pids,
                     lambda: workloads.fuse_clone(repository, base / "clone", args.timeout),
                     args.profile),
        ]
        started = time.monotonic()
        unmount(mountpoint)
        processes.stop(mount, grace=60)
        print(json.dumps({"unmount_s": round(time.monotonic() - started, 2)}), flush=True)
        return figures
    finally:
        unmount(mountpoint)
        processes.stop(mount, grace=30)
        cluster.stop()


def main():
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="wback-") as tmp:
        tmp = Path(tmp)
        tarball, repository = tmp / "stdlib.tar", tmp / "repository.git"
        workloads.make_stdlib_tarball(tarball, STDLIB, args.tar_entries)
        workloads.make_git_repository(repository, STDLIB, args.clone_files)
        for run in range(args.runs):
            work = tmp / f"run{run}"
            work.mkdir()
            one_run(args, work, tarball, repository)
            subprocess.run(["rm", "-rf", str(work)], check=False)


if __name__ == "__main__":
    main()
