#!/usr/bin/env python3
"""Small-file work through a `dfs mount` of a fresh devcluster, dfs alone: each phase's time, every process's CPU
seconds and the namenode's requests by operation (issue 24), in one of two modes.

    bench/.venv/bin/python bench/issue24/mountwork.py writeback --checkout . --runs 1 --profile bench/out/wback
    bench/.venv/bin/python bench/issue24/mountwork.py requests --checkout /tmp/base --checkout . --runs 2

- ``writeback``: bench/run.py's untar and git clone (workload f at its --quick size: 1,500 tar entries, a 1,000-file
  repository) into a `dfs mount -o writeback`.
- ``requests``: the default mount; an untar of 500 entries, an `rm -rf` of that tree once the caches' timeouts have
  passed (so the delete starts from what the kernel and the mount no longer hold, as for a tree made earlier), and a
  git clone of 500 files.

Each run starts a devcluster of each checkout in turn (bench/systems.py's DfsCluster: its `dfs` on PYTHONPATH, its
`.venv/bin/python`), the order reversed every other run, and mounts it with `dfs mount -f`. Around each phase it reads
the namenode's `dfs_http_requests_total` (the requests it answered, by operation: WebHDFS's in upper case, the
datanodes' own in lower case) and the CPU time of the namenode, each datanode, the devcluster and the mount; after
the last phase, how long the unmount takes (with write-back, the uploads still pending). Each phase prints one JSON
line; the end, a Markdown table of the medians per checkout and phase (--out: OUT.json and OUT.md too). Request
counts hardly depend on the machine's load; times do (the load average is in each line).
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

import psutil

BENCH = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BENCH))

import processes  # noqa: E402
import profiling  # noqa: E402
import workloads  # noqa: E402
from outfiles import load_average  # noqa: E402
from run import unmount  # noqa: E402
from systems import DfsCluster, http_get  # noqa: E402

MODES = {
    "writeback": {"phases": ("untar", "clone"), "options": "writeback", "tar_entries": 1500, "clone_files": 1000},
    "requests": {"phases": ("untar", "rm", "clone"), "options": "", "tar_entries": 500, "clone_files": 500},
}
# Past the kernel's attribute and entry timeouts and the mount's own cache (1 s each by default).
COOL_DOWN = 2.5
REQUEST_LINE = re.compile(r'^dfs_http_requests_total\{(?P<labels>[^}]*)\} (?P<value>\S+)$')


def parse_args():
    p = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    p.add_argument("mode", choices=sorted(MODES), help="writeback: untar and clone into -o writeback; requests: untar,"
                                                     " rm -rf and clone in the default mode")
    p.add_argument("--checkout", action="append", help="a dfs work tree with its .venv (repeatable; default .)")
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--options", help="-o options of the mount (default: the mode's, writeback or none)")
    p.add_argument("--tar-entries", type=int, help="entries of the standard library's tarball (default: the mode's)")
    p.add_argument("--clone-files", type=int, help="files of the repository cloned (default: the mode's)")
    p.add_argument("--port", type=int, default=18380, help="namenode port; the datanodes take the next three")
    p.add_argument("--timeout", type=float, default=1800, help="seconds one phase may take")
    p.add_argument("--profile", type=Path, help="py-spy every process during each phase into this directory")
    p.add_argument("--out", help="write OUT.json and OUT.md")
    args = p.parse_args()
    for name, default in MODES[args.mode].items():
        if getattr(args, name, None) is None:
            setattr(args, name, default)
    args.checkout = [str(Path(c).resolve()) for c in args.checkout or ["."]]
    return args


def requests_by_op(url):
    """{operation: requests answered so far} from the namenode's metrics, every status code together."""
    _, body = http_get(url.rstrip("/") + "/metrics", timeout=30)
    counts = {}
    for line in body.decode().splitlines():
        m = REQUEST_LINE.match(line)
        if m:
            op = re.search(r'op="([^"]*)"', m.group("labels")).group(1)
            counts[op] = counts.get(op, 0) + int(float(m.group("value")))
    return counts


def cpu_seconds(pids):
    """{label: CPU seconds so far (user + system, with waited-for children)} of the processes still there."""
    found = {}
    for label, pid in pids.items():
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.Error:
            continue
        found[label] = times.user + times.system + times.children_user + times.children_system
    return found


def phase(tag, url, pids, action, profile):
    """Run ``action`` (it returns its wall seconds); the requests the namenode answered meanwhile and each process's
    CPU seconds."""
    requests_before, cpu_before = requests_by_op(url), cpu_seconds(pids)
    recording = profile and profiling.Recording(profiling.find_py_spy(), pids, profile, tag)
    seconds = action()
    if recording:
        for process, path in recording.stop().items():
            print(f"{tag}, {process}:", *profiling.summarize(path), sep="\n")
    requests_after, cpu_after = requests_by_op(url), cpu_seconds(pids)
    requests = {op: n - requests_before.get(op, 0) for op, n in sorted(requests_after.items())
                if n > requests_before.get(op, 0)}
    return {"seconds": round(seconds, 2),
            "cpu_s": {k: round(v - cpu_before.get(k, 0), 2) for k, v in cpu_after.items()},
            "requests": requests, "webhdfs_requests": sum(n for op, n in requests.items() if op.isupper()),
            "load": load_average()}


def one_run(checkout, args, workdir, tarball, repository, tag):
    """{phase: figures, "unmount_s": seconds} of one fresh devcluster and mount of ``checkout``."""
    cluster = DfsCluster(checkout, Path(checkout) / ".venv" / "bin" / "python", workdir, port=args.port)
    cluster.start()
    mountpoint, cache = workdir / "mnt", workdir / "cache"
    mountpoint.mkdir()
    cache.mkdir()
    argv = cluster.mount_argv(mountpoint, cache)
    if argv is None:
        cluster.stop()
        raise RuntimeError(f"{checkout} has no `dfs mount` that runs here")
    options = ",".join([f"cache_dir={cache}"] + ([args.options] if args.options else []))
    mount = processes.start(argv + ["-o", options], workdir / "mount.log", env=cluster.env())
    tree = mountpoint / "tree"
    actions = {
        "untar": lambda: workloads.fuse_untar(tarball, tree, args.timeout),
        "rm": lambda: workloads.fuse_rm(tree, args.timeout),
        "clone": lambda: workloads.fuse_clone(repository, mountpoint / "clone", args.timeout),
    }
    try:
        processes.wait_until(lambda: os.path.ismount(mountpoint) or mount.poll() is not None, 60, "the mount")
        if not os.path.ismount(mountpoint):
            raise RuntimeError(f"the mount exited: {processes.tail(workdir / 'mount.log', 5)}")
        pids = {**cluster.processes(), "mount": mount.pid}
        figures = {}
        for name in args.phases:
            if name == "rm":
                time.sleep(COOL_DOWN)
            figures[name] = phase(f"{tag}-{name}", cluster.url, pids, actions[name], args.profile)
            print(json.dumps({"run": tag, "checkout": checkout, "phase": name, **figures[name]}), flush=True)
        started = time.monotonic()
        unmount(mountpoint)
        processes.stop(mount, grace=60)
        figures["unmount_s"] = round(time.monotonic() - started, 2)
        print(json.dumps({"run": tag, "checkout": checkout, "unmount_s": figures["unmount_s"]}), flush=True)
        return figures
    finally:
        unmount(mountpoint)
        processes.stop(mount, grace=30)
        cluster.stop()


def table(runs, phases):
    """Markdown: per checkout and phase, the median figures and WebHDFS requests by operation."""
    lines = ["| checkout | phase | s | namenode CPU s | datanodes CPU s | mount CPU s | WebHDFS requests"
             " | by operation |", "|---|---|---|---|---|---|---|---|"]
    for checkout, results in runs.items():
        for name in phases:
            got = [r[name] for r in results]
            ops = sorted({op for g in got for op in g["requests"] if op.isupper()})
            by_op = ", ".join(f"{op} {statistics.median(g['requests'].get(op, 0) for g in got):g}" for op in ops)
            cpu = [statistics.median(sum(v for k, v in g["cpu_s"].items() if k.startswith(prefix)) for g in got)
                   for prefix in ("dfs namenode", "dfs datanode", "mount")]
            cells = [statistics.median(g["seconds"] for g in got)] + cpu
            lines.append(f"| {checkout} | {name} | " + " | ".join(f"{c:.2f}" for c in cells)
                         + f" | {statistics.median(g['webhdfs_requests'] for g in got):g} | {by_op} |")
        unmounts = statistics.median(r["unmount_s"] for r in results)
        lines.append(f"| {checkout} | unmount | {unmounts:.2f} | | | | | |")
    return "\n".join(lines)


def main():
    args = parse_args()
    runs = {c: [] for c in args.checkout}
    with tempfile.TemporaryDirectory(prefix="dfs-mountwork-") as scratch:
        scratch = Path(scratch)
        tarball, repository = scratch / "stdlib.tar", scratch / "repository.git"
        stdlib = sysconfig.get_paths()["stdlib"]
        entries, size = workloads.make_stdlib_tarball(tarball, stdlib, args.tar_entries)
        files = workloads.make_git_repository(repository, stdlib, args.clone_files)
        print(f"{args.mode}: tarball {entries} entries, {size} bytes; repository {files} files; mount -o"
              f" {args.options or '(none)'}", flush=True)
        for run in range(args.runs):
            for checkout in args.checkout if run % 2 == 0 else args.checkout[::-1]:
                tag = f"run{run + 1}-checkout{args.checkout.index(checkout) + 1}"
                workdir = scratch / tag
                workdir.mkdir()
                runs[checkout].append(one_run(checkout, args, workdir, tarball, repository, tag))
                subprocess.run(["rm", "-rf", str(workdir)], check=False)
    text = table(runs, args.phases)
    print(text)
    if args.out:
        Path(args.out + ".json").write_text(json.dumps(runs, indent=1))
        Path(args.out + ".md").write_text(text + "\n")


if __name__ == "__main__":
    main()
