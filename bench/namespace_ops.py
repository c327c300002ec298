"""Namespace operations of one dfs checkout, or of two side by side: small put, stat, list, rename, memory per file.

    .venv/bin/python bench/namespace_ops.py --checkout /work/main                     # one checkout, 5 runs
    .venv/bin/python bench/namespace_ops.py --checkout /work/main --checkout /work/wt/ns --out /tmp/ab
                                                                   # A, B, A, B, …: medians and ratios B/A

Each run starts a fresh cluster of the checkout's code (its `dfs` package on PYTHONPATH, its `.venv/bin/python`;
one namenode and three datanodes, replication 3, the namenode's default timings, loopback ports the system picks)
and measures, with --clients concurrent keep-alive clients:

- put: --files files of --kib KiB (`CREATE&data=true`, fresh random bytes), files/s;
- stat: GETFILESTATUS of those files, each --stat-rounds times: p50 and p90 latency (ms) and req/s;
- list: one LISTSTATUS of a directory of --entries empty files, median of --listings listings (ms);
- rename: every put file into another directory, ops/s;
- memory: the namenode's RSS after creating all those files minus its RSS before, in bytes per file;
- the namenode's CPU time (user + system, all threads) per put, stat, listing and rename: on a machine loaded by
  others, wall-clock figures swing by 30% and more between runs of the same code, CPU time much less.

A figure is the median over --runs runs. Writes OUT.json (every run's figures, the medians, the machine's load
average before and after) and OUT.md (the table). The benchmark client shares the machine's cores with the cluster.
"""

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import requests

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(BENCH), "tests"))

from cluster import Cluster  # noqa: E402
from safemode_restart import DEFAULT_TIMINGS  # noqa: E402

from dfs.node import twistd_command  # noqa: E402

OCTETS = {"Content-Type": "application/octet-stream"}
# (figure, unit, True when larger is better), in table order.
FIGURES = [
    ("put_files_per_s", "files/s", True),
    ("stat_p50_ms", "ms", False),
    ("stat_p90_ms", "ms", False),
    ("stat_req_per_s", "req/s", True),
    ("list_ms", "ms", False),
    ("rename_ops_per_s", "ops/s", True),
    ("namenode_rss_bytes_per_file", "bytes", False),
    ("put_namenode_cpu_ms", "ms", False),
    ("stat_namenode_cpu_ms", "ms", False),
    ("list_namenode_cpu_ms", "ms", False),
    ("rename_namenode_cpu_ms", "ms", False),
]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkout", action="append", required=True,
                   help="a dfs checkout with its .venv (give two to compare: A, B, A, B …)")
    p.add_argument("--runs", type=int, default=5, help="runs per checkout (default 5)")
    p.add_argument("--files", type=int, default=1000, help="small files to put (default 1000)")
    p.add_argument("--kib", type=int, default=4, help="size of each small file, KiB (default 4)")
    p.add_argument("--entries", type=int, default=2000, help="entries of the listed directory (default 2000)")
    p.add_argument("--stat-rounds", type=int, default=3, help="GETFILESTATUS of every file, this many times")
    p.add_argument("--listings", type=int, default=21,
                   help="LISTSTATUS calls per run, one at a time; the run's figure is their median (default 21)")
    p.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    p.add_argument("--out", default=os.path.join(BENCH, "out", "namespace"),
                   help="writes OUT.json and OUT.md (default bench/out/namespace)")
    args = p.parse_args(argv)
    if len(args.checkout) > 2:
        p.error("give one checkout, or two to compare")
    return args


def checkout_launcher(checkout):
    """A tests/cluster.py launcher that runs a role from ``checkout``: its venv's Python, its code first on the path."""
    python = os.path.join(checkout, ".venv", "bin", "python")
    if not os.path.exists(python):
        raise SystemExit(f"{python} is missing: run `make venv` in {checkout}")
    env = dict(os.environ, PYTHONPATH=checkout)

    def launch(role, args):
        return [python, *twistd_command(role, args)[1:]], env
    return launch


def commit_of(checkout):
    out = subprocess.run(["git", "-C", checkout, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", checkout, "status", "--porcelain", "--", "dfs", "twisted"],
                           capture_output=True, text=True).stdout.strip()
    return (out.stdout.strip() or "unknown") + (" + local changes" if dirty else "")


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid):
    """User + system CPU time of a process, all its threads (SQLite work runs in the namenode's thread pool)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Clients:
    """``count`` threads, each with its own keep-alive session, sharing one queue of jobs."""

    def __init__(self, url, count):
        self.url = url + "/webhdfs/v1"
        self.count = count
        self.local = threading.local()

    def session(self):
        if not hasattr(self.local, "session"):
            self.local.session = requests.Session()
        return self.local.session

    def call(self, method, path, op, body=None, **params):
        r = self.session().request(method, self.url + path, params={"op": op, **params}, data=body,
                                   headers=OCTETS if body is not None else None, timeout=120)
        if r.status_code >= 300 or r.text.replace(" ", "") == '{"boolean":false}':
            raise RuntimeError(f"{op} {path}: {r.status_code} {r.text[:300]}")
        return r

    def run(self, job, items):
        """Apply ``job`` to every item from all clients; (elapsed seconds, each call's latency in seconds)."""
        def timed(item):
            started = time.perf_counter()
            job(item)
            return time.perf_counter() - started

        started = time.perf_counter()
        with ThreadPoolExecutor(self.count) as pool:
            latencies = list(pool.map(timed, items))
        return time.perf_counter() - started, latencies

    def create(self, path, body):
        self.call("PUT", path, "CREATE", body, data="true", overwrite="true")


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def measure(cluster, args):
    """One run's figures on a started cluster."""
    fs = Clients(cluster.url, args.clients)
    payloads = [os.urandom(args.kib * 1024) for _ in range(args.files)]
    files = [f"/bench/put/f{i:05d}" for i in range(args.files)]
    fs.call("PUT", "/bench/put", "MKDIRS")
    fs.call("PUT", "/bench/list", "MKDIRS")
    fs.call("PUT", "/bench/renamed", "MKDIRS")
    pid = cluster.namenode.pid
    rss_before = rss_bytes(pid)

    cpu = cpu_seconds(pid)
    elapsed, _ = fs.run(lambda i: fs.create(files[i], payloads[i]), range(args.files))
    figures = {"put_files_per_s": args.files / elapsed,
               "put_namenode_cpu_ms": (cpu_seconds(pid) - cpu) * 1000 / args.files}
    fs.run(lambda i: fs.create(f"/bench/list/e{i:05d}", b""), range(args.entries))
    figures["namenode_rss_bytes_per_file"] = (rss_bytes(pid) - rss_before) / (args.files + args.entries)

    cpu = cpu_seconds(pid)
    elapsed, latencies = fs.run(lambda path: fs.call("GET", path, "GETFILESTATUS"), files * args.stat_rounds)
    figures.update(stat_p50_ms=percentile(latencies, 0.5) * 1000, stat_p90_ms=percentile(latencies, 0.9) * 1000,
                   stat_req_per_s=len(latencies) / elapsed,
                   stat_namenode_cpu_ms=(cpu_seconds(pid) - cpu) * 1000 / len(latencies))

    cpu = cpu_seconds(pid)
    listings = []
    for _ in range(args.listings):
        started = time.perf_counter()
        entries = fs.call("GET", "/bench/list", "LISTSTATUS").json()["FileStatuses"]["FileStatus"]
        listings.append((time.perf_counter() - started) * 1000)
        if len(entries) != args.entries:
            raise RuntimeError(f"LISTSTATUS gave {len(entries)} entries, wanted {args.entries}")
    figures.update(list_ms=statistics.median(listings),
                   list_namenode_cpu_ms=(cpu_seconds(pid) - cpu) * 1000 / args.listings)

    cpu = cpu_seconds(pid)
    elapsed, _ = fs.run(lambda path: fs.call("PUT", path, "RENAME", destination=path.replace("/put/", "/renamed/")),
                        files)
    figures.update(rename_ops_per_s=args.files / elapsed,
                   rename_namenode_cpu_ms=(cpu_seconds(pid) - cpu) * 1000 / args.files)
    return figures


def one_run(checkout, args):
    work = tempfile.mkdtemp(prefix="dfs-namespace-bench-")
    cluster = Cluster(work, heartbeat=3, namenode_args=DEFAULT_TIMINGS, launcher=checkout_launcher(checkout))
    try:
        cluster.start()
        return measure(cluster, args)
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


def summarize(runs):
    return {name: statistics.median(run[name] for run in runs) for name, _, _ in FIGURES}


def table(results):
    checkouts = results["checkouts"]
    header = "| figure | " + " | ".join(f"{c['label']} median (min–max)" for c in checkouts)
    rule = "|---|" + "---|" * len(checkouts)
    if len(checkouts) == 2:
        header += " | B/A |"
        rule += "---|"
    else:
        header += " |"
    lines = [header, rule]
    for name, unit, larger_better in FIGURES:
        cells = []
        for c in checkouts:
            values = [run[name] for run in c["runs"]]
            cells.append(f"{c['median'][name]:.4g} {unit} ({min(values):.4g}–{max(values):.4g})")
        row = f"| {name} ({'higher' if larger_better else 'lower'} is better) | " + " | ".join(cells) + " |"
        if len(checkouts) == 2:
            row += f" {results['ratios'][name]:.3f} |"
        lines.append(row)
    notes = [f"- {c['label']}: {c['path']} at {c['commit']}" for c in checkouts]
    notes.append(f"- {results['params']}; load average before {results['load_before']}, "
                 f"after {results['load_after']}; {results['machine']}")
    return "\n".join(lines + [""] + notes) + "\n"


def main(argv=None):
    args = parse_args(argv)
    checkouts = [{"label": "AB"[i], "path": os.path.abspath(path), "commit": commit_of(path), "runs": []}
                 for i, path in enumerate(args.checkout)]
    results = {
        "started": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "params": {k: getattr(args, k) for k in ("runs", "files", "kib", "entries", "listings", "stat_rounds",
                                                "clients")},
        "machine": f"{os.cpu_count()} cores, {platform.platform()}",
        "load_before": [round(x, 2) for x in os.getloadavg()],
        "checkouts": checkouts,
    }
    for run in range(args.runs):
        for c in checkouts:  # alternate, so a change in the machine's load falls on both
            figures = one_run(c["path"], args)
            c["runs"].append(figures)
            print(f"[run {run + 1}/{args.runs}] {c['label']} " +
                  " ".join(f"{name}={figures[name]:.4g}" for name, _, _ in FIGURES), flush=True)
    for c in checkouts:
        c["median"] = summarize(c["runs"])
    if len(checkouts) == 2:
        results["ratios"] = {name: checkouts[1]["median"][name] / checkouts[0]["median"][name]
                             for name, _, _ in FIGURES}
    results["load_after"] = [round(x, 2) for x in os.getloadavg()]
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out + ".json", "w") as f:
        json.dump(results, f, indent=1)
        f.write("\n")
    markdown = table(results)
    with open(args.out + ".md", "w") as f:
        f.write(markdown)
    print(markdown)


if __name__ == "__main__":
    main()
