#!/usr/bin/env python3
"""The namenode requests small-file work makes through the mount, by operation (issue 24): an untar, an `rm -rf` of
what it made and a `git clone`, in the default mode, on one dfs checkout or two alternating.

    bench/.venv/bin/python bench/issue24/mountreqs.py --checkout /tmp/base --checkout . --files 500

Each run starts a fresh devcluster of the checkout (bench/systems.py's DfsCluster: its `dfs` on PYTHONPATH, its
`.venv/bin/python`), mounts it with `dfs mount -f`, untars the first --files entries of the standard library into
the mount, waits past the caches' timeouts (so the delete starts from what the kernel and the mount no longer
hold, as for a tree made earlier), runs `rm -rf` of it, then `git clone`s a local bare repository of the first
--files files of the standard library into the mount. Around each phase it reads the namenode's
`dfs_http_requests_total` (the WebHDFS requests it answered, by operation) and the CPU time (user + system) of the
namenode and the mount. Request counts hardly depend on the machine's load; times do (the load average is shown).
"""

import argparse
import json
import os
import re
import statistics
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

import psutil

BENCH = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BENCH))

import processes  # noqa: E402
import workloads  # noqa: E402
from run import unmount  # noqa: E402
from systems import DfsCluster, http_get  # noqa: E402

# Past the kernel's attribute and entry timeouts and the mount's own cache (1 s each by default).
COOL_DOWN = 2.5
PHASES = ("untar", "rm", "clone")
REQUEST_LINE = re.compile(r'^dfs_http_requests_total\{(?P<labels>[^}]*)\} (?P<value>\S+)$')


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkout", action="append", required=True, help="a dfs work tree with its .venv (repeatable)")
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--files", type=int, default=500, help="entries of the standard library's tarball")
    p.add_argument("--port", type=int, default=8580, help="namenode port; the datanodes take the next three")
    p.add_argument("--mount-options", default=None, help="-o options for `dfs mount` (e.g. writeback)")
    p.add_argument("--out", default=None, help="write OUT.json and OUT.md")
    return p.parse_args()


def request_counts(url):
    """{operation: requests answered} from the namenode's metrics, every status code together."""
    _, body = http_get(url.rstrip("/") + "/metrics", timeout=30)
    counts = {}
    for line in body.decode().splitlines():
        m = REQUEST_LINE.match(line)
        if m:
            op = re.search(r'op="([^"]*)"', m.group("labels")).group(1)
            counts[op] = counts.get(op, 0) + int(float(m.group("value")))
    return counts


def cpu_seconds(pid):
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def phase(cluster, pids, action):
    """Run ``action``; its wall seconds, the requests the namenode answered meanwhile, each process's CPU s."""
    before_counts, before_cpu = request_counts(cluster.url), {k: cpu_seconds(p) for k, p in pids.items()}
    seconds = action()
    after_counts = request_counts(cluster.url)
    # WebHDFS operations are upper case; the datanodes' own calls (heartbeat, blocks...) are not counted.
    requests = {op: n - before_counts.get(op, 0) for op, n in after_counts.items()
                if op.isupper() and n > before_counts.get(op, 0)}
    return {"seconds": seconds, "requests": requests, "total": sum(requests.values()),
            **{f"{k}_cpu_s": cpu_seconds(p) - before_cpu[k] for k, p in pids.items()}}


def one_run(checkout, args, workdir, tarball, repository):
    cluster = DfsCluster(checkout, Path(checkout) / ".venv" / "bin" / "python", workdir, port=args.port)
    cluster.start()
    mountpoint, cache = Path(workdir) / "mnt", Path(workdir) / "cache"
    mountpoint.mkdir()
    cache.mkdir()
    options = f"cache_dir={cache}" + (f",{args.mount_options}" if args.mount_options else "")
    proc = processes.start(cluster.mount_argv(mountpoint, cache) + ["-o", options], Path(workdir) / "mount.log",
                           env=cluster.env())
    try:
        processes.wait_until(lambda: os.path.ismount(mountpoint) or proc.poll() is not None, 60, "the mount")
        if not os.path.ismount(mountpoint):
            raise RuntimeError(f"the mount exited: {processes.tail(Path(workdir) / 'mount.log', 5)}")
        pids = {"namenode": cluster.processes()["dfs namenode"], "mount": proc.pid}
        tree = mountpoint / "tree"
        figures = {"untar": phase(cluster, pids, lambda: workloads.fuse_untar(tarball, tree, 3600))}
        time.sleep(COOL_DOWN)
        figures["rm"] = phase(cluster, pids, lambda: workloads.fuse_rm(tree, 3600))
        figures["clone"] = phase(cluster, pids, lambda: workloads.fuse_clone(repository, mountpoint / "clone", 3600))
    finally:
        unmount(mountpoint)
        processes.stop(proc, grace=30)
        cluster.stop()
    return figures


def table(runs):
    """Markdown: per checkout and phase, the median figures and the requests by operation."""
    lines = ["| checkout | phase | s | namenode CPU s | mount CPU s | requests | by operation |",
             "|---|---|---|---|---|---|---|"]
    for checkout, results in runs.items():
        for name in PHASES:
            got = [r[name] for r in results]
            ops = sorted({op for g in got for op in g["requests"]})
            by_op = ", ".join(f"{op} {statistics.median(g['requests'].get(op, 0) for g in got):g}" for op in ops)
            cells = [statistics.median(g[k] for g in got) for k in ("seconds", "namenode_cpu_s", "mount_cpu_s")]
            lines.append(f"| {checkout} | {name} | " + " | ".join(f"{c:.2f}" for c in cells)
                         + f" | {statistics.median(g['total'] for g in got):g} | {by_op} |")
    return "\n".join(lines)


def main():
    args = parse_args()
    checkouts = [str(Path(c).resolve()) for c in args.checkout]
    runs = {c: [] for c in checkouts}
    with tempfile.TemporaryDirectory(prefix="dfs-mountreqs-") as scratch:
        tarball = Path(scratch) / "stdlib.tar"
        stdlib = sysconfig.get_paths()["stdlib"]
        entries, size = workloads.make_stdlib_tarball(tarball, stdlib, args.files)
        repository = Path(scratch) / "repository.git"
        files = workloads.make_git_repository(repository, stdlib, args.files)
        print(f"tarball: {entries} entries, {size} bytes; repository: {files} files", flush=True)
        for run in range(args.runs):
            for checkout in checkouts if run % 2 == 0 else checkouts[::-1]:
                with tempfile.TemporaryDirectory(prefix="run-", dir=scratch) as workdir:
                    figures = one_run(checkout, args, workdir, tarball, repository)
                figures["load"] = psutil.getloadavg()
                runs[checkout].append(figures)
                print(f"[run {run + 1}/{args.runs}] {checkout}: {json.dumps(figures)}", flush=True)
    text = table(runs)
    print(text)
    if args.out:
        Path(args.out + ".json").write_text(json.dumps(runs, indent=1))
        Path(args.out + ".md").write_text(text + "\n")


if __name__ == "__main__":
    main()
