"""Namespace operations of one dfs checkout, of two side by side, or of one on SQLite and on PostgreSQL: small put,
stat, list, rename, memory per file.

    .venv/bin/python bench/namespace_ops.py --checkout /work/main                     # one checkout, 5 runs
    .venv/bin/python bench/namespace_ops.py --checkout /work/main --checkout /work/wt/ns --out /tmp/ab
                                                                   # A, B, A, B, …: medians and ratios B/A
    .venv/bin/python bench/namespace_ops.py --checkout . --backend sqlite --backend postgresql
                                                                   # A on SQLite, B on PostgreSQL, alternating
    .venv/bin/python bench/namespace_ops.py --checkout . --history off --history on
                                                                   # A without history, B with it, alternating

With --backend postgresql the namenode keeps its namespace in a throwaway PostgreSQL server on a Unix socket
(tests/postgres.py, with fsync and synchronous commits on, as SQLite's synchronous=FULL), a fresh database each run;
the server's CPU time (every PostgreSQL process) is counted apart from the namenode's.

--history on runs the namenode with --history-retention 24h. --history off (SQLite only) runs it with
--history-retention 0 and drops the history triggers once it has started: retention 0 only trims, the triggers
still keep every old row, so "off" is the same code doing the namespace's work without them (each write still
numbers its commit, one row in `commits`). Without --history the namenode runs as tests/cluster.py starts it.

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
import itertools
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(BENCH), "tests"))

from cluster import Cluster, source_twistd  # noqa: E402
from postgres import PostgresServer  # noqa: E402
from filled_cluster import DEFAULT_TIMINGS  # noqa: E402
from outfiles import load_average, run_facts, write_results  # noqa: E402

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
    ("put_database_cpu_ms", "ms", False),
    ("stat_database_cpu_ms", "ms", False),
    ("list_database_cpu_ms", "ms", False),
    ("rename_database_cpu_ms", "ms", False),
    ("put_conflicts_per_op", "tries", False),
    ("rename_conflicts_per_op", "tries", False),
]
BACKENDS = ("sqlite", "postgresql")
HISTORY = {"on": "24h", "off": "0"}  # --history: the namenode's --history-retention


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkout", action="append", required=True,
                   help="a dfs checkout with its .venv (give two to compare: A, B, A, B …)")
    p.add_argument("--backend", action="append", choices=BACKENDS,
                   help="where the namenode keeps the namespace (default sqlite; give both to compare them)")
    p.add_argument("--history", action="append", choices=sorted(HISTORY),
                   help="history on (--history-retention 24h) or off (its triggers dropped); give both to compare")
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
    args.backend = args.backend or ["sqlite"]
    args.history = args.history or [None]
    if len(args.checkout) * len(args.backend) * len(args.history) > 2:
        p.error("compare two subjects at most: two checkouts, or both backends, or history off and on")
    if "off" in args.history and "postgresql" in args.backend:
        p.error("--history off drops SQLite's triggers: give it with --backend sqlite")
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


def cpu_seconds(pid, exited_children=False):
    """User + system CPU time of a process, all its threads (SQLite work runs in the namenode's thread pool), and
    with ``exited_children`` that of its children it has waited for."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = sum(int(field) for field in fields[11:15 if exited_children else 13])
    return ticks / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid):
    """CPU time of a process and of every descendant, living or gone: a PostgreSQL server's (the postmaster forks a
    process per connection)."""
    total = cpu_seconds(pid, exited_children=True)
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            total += sum(tree_cpu_seconds(int(child)) for child in f.read().split())
    return total


class CPU:
    """CPU seconds of the namenodes (together) and of the database server (none for SQLite: it runs inside the
    namenode)."""

    def __init__(self, namenode_pids, database_pid=None):
        self.namenode_pids, self.database_pid = namenode_pids, database_pid

    def now(self):
        return (sum(cpu_seconds(pid) for pid in self.namenode_pids),
                tree_cpu_seconds(self.database_pid) if self.database_pid else 0.0)

    def per_op(self, figures, name, since, ops):
        """Record the namenode's and the database's milliseconds per op since ``since`` as ``name``'s figures."""
        now = self.now()
        figures[f"{name}_namenode_cpu_ms"] = (now[0] - since[0]) * 1000 / ops
        figures[f"{name}_database_cpu_ms"] = (now[1] - since[1]) * 1000 / ops


class Clients:
    """``count`` threads, each with its own keep-alive session, sharing one queue of jobs. ``urls`` is one namenode's
    URL or a comma-separated list: each thread keeps to one, the threads taking them in turn."""

    def __init__(self, urls, count):
        self.urls = [url + "/webhdfs/v1" for url in urls.split(",")]
        self.count = count
        self.local = threading.local()
        self._threads = itertools.count()

    def session(self):
        if not hasattr(self.local, "session"):
            self.local.session = requests.Session()
            self.local.url = self.urls[next(self._threads) % len(self.urls)]
        return self.local.session

    def call(self, method, path, op, body=None, **params):
        r = self.session().request(method, self.local.url + path, params={"op": op, **params}, data=body,
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


def conflicts(cluster):
    """Attempts the namespace database refused as conflicting so far (PostgreSQL's SERIALIZABLE; 0 on SQLite), from
    every namenode's /metrics."""
    texts = [requests.get(namenode.url + "/metrics", timeout=30).text for namenode in cluster.namenodes]
    return sum(float(line.split()[-1]) for text in texts for line in text.splitlines()
               if line.startswith("dfs_namespace_conflicts_total"))


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def measure(cluster, args, database_pid=None):
    """One run's figures on a started cluster (whose namespace is in the PostgreSQL server ``database_pid``, if
    given)."""
    fs = Clients(cluster.url, args.clients)
    payloads = [os.urandom(args.kib * 1024) for _ in range(args.files)]
    files = [f"/bench/put/f{i:05d}" for i in range(args.files)]
    fs.call("PUT", "/bench/put", "MKDIRS")
    fs.call("PUT", "/bench/list", "MKDIRS")
    fs.call("PUT", "/bench/renamed", "MKDIRS")
    pid = cluster.namenode.pid
    cpu = CPU([pid], database_pid)
    rss_before = rss_bytes(pid)

    since, refused = cpu.now(), conflicts(cluster)
    elapsed, _ = fs.run(lambda i: fs.create(files[i], payloads[i]), range(args.files))
    figures = {"put_files_per_s": args.files / elapsed,
               "put_conflicts_per_op": (conflicts(cluster) - refused) / args.files}
    cpu.per_op(figures, "put", since, args.files)
    fs.run(lambda i: fs.create(f"/bench/list/e{i:05d}", b""), range(args.entries))
    figures["namenode_rss_bytes_per_file"] = (rss_bytes(pid) - rss_before) / (args.files + args.entries)

    since = cpu.now()
    elapsed, latencies = fs.run(lambda path: fs.call("GET", path, "GETFILESTATUS"), files * args.stat_rounds)
    figures.update(stat_p50_ms=percentile(latencies, 0.5) * 1000, stat_p90_ms=percentile(latencies, 0.9) * 1000,
                   stat_req_per_s=len(latencies) / elapsed)
    cpu.per_op(figures, "stat", since, len(latencies))

    since = cpu.now()
    listings = []
    for _ in range(args.listings):
        started = time.perf_counter()
        entries = fs.call("GET", "/bench/list", "LISTSTATUS").json()["FileStatuses"]["FileStatus"]
        listings.append((time.perf_counter() - started) * 1000)
        if len(entries) != args.entries:
            raise RuntimeError(f"LISTSTATUS gave {len(entries)} entries, wanted {args.entries}")
    figures["list_ms"] = statistics.median(listings)
    cpu.per_op(figures, "list", since, args.listings)

    since, refused = cpu.now(), conflicts(cluster)
    elapsed, _ = fs.run(lambda path: fs.call("PUT", path, "RENAME", destination=path.replace("/put/", "/renamed/")),
                        files)
    figures.update(rename_ops_per_s=args.files / elapsed,
                   rename_conflicts_per_op=(conflicts(cluster) - refused) / args.files)
    cpu.per_op(figures, "rename", since, args.files)
    return figures


def drop_history_triggers(path):
    """Drop the SQLite triggers that keep the history rows (not the block reference counts); the running
    namenode's connection sees the schema change and prepares its statements again."""
    db = sqlite3.connect(path)
    try:
        names = db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name NOT LIKE 'block_%'"
                           " AND tbl_name IN ('inodes', 'dirents', 'extents', 'xattrs')").fetchall()
        if not names:
            raise RuntimeError(f"no history triggers in {path}")
        for (name,) in names:
            db.execute(f"DROP TRIGGER {name}")
        db.commit()
    finally:
        db.close()


def one_run(subject, args, server):
    """One run of a subject (a checkout on a backend, with or without history) on a fresh cluster; on PostgreSQL,
    in a fresh database of ``server``."""
    return on_fresh_cluster(lambda cluster, database_pid: measure(cluster, args, database_pid), subject["backend"],
                            server, launcher=checkout_launcher(subject["path"]), history=subject["history"])


def on_fresh_cluster(measure_it, backend, server, namenodes=1, launcher=source_twistd, history=None):
    """``measure_it(cluster, database_pid)`` on a fresh cluster of ``namenodes`` namenodes (each seeing the three
    datanodes) and, on PostgreSQL, a fresh database of ``server``; its figures. ``history`` "on" or "off" (SQLite:
    its triggers dropped once the namenode started), or None: the namenode's default."""
    work = tempfile.mkdtemp(prefix="dfs-namespace-bench-")
    url = server.database() if backend == "postgresql" else None
    namenode_args = [*DEFAULT_TIMINGS, *(["--db-url", url] if url else []),
                     *(["--history-retention", HISTORY[history]] if history else [])]
    cluster = Cluster(work, heartbeat=3, namenode_args=namenode_args, launcher=launcher, namenodes=namenodes)
    try:
        cluster.start()  # waits for every namenode to see the datanodes
        if history == "off":
            drop_history_triggers(os.path.join(work, "namenode.sqlite"))
        return measure_it(cluster, server.pid if url else None)
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)
        if url:
            server.drop(url)


def summarize(runs):
    return {name: statistics.median(run[name] for run in runs) for name, _, _ in FIGURES}


def figure_cells(subjects, name, unit):
    """Each subject's figure ``name``: median (min–max) over its runs."""
    cells = []
    for subject in subjects:
        values = [run[name] for run in subject["runs"]]
        cells.append(f"{subject['median'][name]:.4g} {unit} ({min(values):.4g}–{max(values):.4g})")
    return cells


def load_notes(subjects):
    return [f"- {s['label']}: load average (1 min) as each run started: {[run['load_1min'] for run in s['runs']]}"
            for s in subjects]


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
        row = f"| {name} ({'higher' if larger_better else 'lower'} is better) | " + \
            " | ".join(figure_cells(checkouts, name, unit)) + " |"
        if len(checkouts) == 2:
            ratio = results["ratios"][name]
            row += " — |" if ratio is None else f" {ratio:.3f} |"
        lines.append(row)
    notes = [f"- {c['label']}: {c['path']} at {c['commit']}, namespace on {c['backend']}"
             + (f", history {c['history']}" if c["history"] else "") for c in checkouts]
    notes += load_notes(checkouts)
    notes.append(f"- {results['params']}; load average before {results['load_before']}, "
                 f"after {results['load_after']}; {results['machine']}")
    return "\n".join(lines + [""] + notes) + "\n"


def main(argv=None):
    args = parse_args(argv)
    subjects = [(path, backend, history) for path in args.checkout for backend in args.backend
                for history in args.history]
    checkouts = [{"label": "AB"[i], "path": os.path.abspath(path), "commit": commit_of(path), "backend": backend,
                  "history": history, "runs": []} for i, (path, backend, history) in enumerate(subjects)]
    server = PostgresServer(durable=True).start() if "postgresql" in args.backend else None
    try:
        results = run_all(args, checkouts, server)
    finally:
        if server is not None:
            server.stop()
    write_results(args.out, results, table(results))


def run_all(args, checkouts, server):
    """Every run, the subjects alternating; the results with medians (and ratios B/A of two subjects)."""
    results = {
        **run_facts({k: getattr(args, k) for k in ("runs", "files", "kib", "entries", "listings", "stat_rounds",
                                                   "clients")}),
        "checkouts": checkouts,
    }
    for run in range(args.runs):
        for c in checkouts:  # alternate, so a change in the machine's load falls on both
            uptime = os.getloadavg()[0]
            figures = one_run(c, args, server)
            figures["load_1min"] = round(uptime, 2)
            c["runs"].append(figures)
            print(f"[run {run + 1}/{args.runs}] {c['label']} " +
                  " ".join(f"{name}={figures[name]:.4g}" for name, _, _ in FIGURES), flush=True)
    for c in checkouts:
        c["median"] = summarize(c["runs"])
    if len(checkouts) == 2:
        a, b = checkouts[0]["median"], checkouts[1]["median"]
        results["ratios"] = {name: b[name] / a[name] if a[name] else None for name, _, _ in FIGURES}
    results["load_after"] = load_average()
    return results


if __name__ == "__main__":
    main()
