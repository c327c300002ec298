"""Small-file put, stat and list throughput with 1, 2 and 4 namenodes on one PostgreSQL, against the single namenode
on SQLite (issue 22).

    .venv/bin/python bench/namenodes.py                                    # 3 runs of each setup
    .venv/bin/python bench/namenodes.py --runs 5 --namenodes 1 2 4 --out bench/namespace/namenodes

Setups: the namespace in SQLite with one namenode (the embedded default), and in one throwaway PostgreSQL server
(tests/postgres.py, fsync and synchronous commits on) shared by 1, 2, 4 … namenodes started with the same --db-url.
Each run starts a fresh cluster of this checkout (three datanodes given every namenode, replication 3, real twistd
processes on 127.0.0.1; a fresh database on PostgreSQL) and the setups take turns, their order reversed every other
run, so a change in the machine's load falls on all of them. --clients concurrent keep-alive clients are spread over
the namenodes (client i talks to namenode i mod n), as a load balancer would spread them:

- put: --files files of --kib KiB (`CREATE&data=true`) into --dirs directories, files/s;
- stat: GETFILESTATUS of every put file, --stat-rounds times, req/s and p50 ms;
- list: --listings LISTSTATUS of a directory of --entries empty files, listings/s;
- CPU per operation of all namenodes together and of the database server, and PostgreSQL's refused (conflicting)
  attempts per put.

A figure is the median over --runs runs. Writes OUT.json (every run's figures, the load average as each run started)
and OUT.md (the table). The client shares the machine's cores with every server: on a small machine more namenodes
add processes competing for the same cores, so read the CPU rows with the throughput rows.
"""

import argparse
import os
import statistics

from namespace_ops import CPU, Clients, commit_of, conflicts, figure_cells, load_notes, on_fresh_cluster, percentile
from outfiles import load_average, run_facts, write_results

from postgres import PostgresServer  # noqa: E402  (namespace_ops put tests/ on the path)

# (figure, unit, True when larger is better), in table order.
FIGURES = [
    ("put_files_per_s", "files/s", True),
    ("stat_req_per_s", "req/s", True),
    ("stat_p50_ms", "ms", False),
    ("list_per_s", "listings/s", True),
    ("put_namenode_cpu_ms", "ms", False),
    ("put_database_cpu_ms", "ms", False),
    ("stat_namenode_cpu_ms", "ms", False),
    ("stat_database_cpu_ms", "ms", False),
    ("list_namenode_cpu_ms", "ms", False),
    ("list_database_cpu_ms", "ms", False),
    ("put_conflicts_per_op", "tries", False),
]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3, help="runs of each setup (default 3)")
    p.add_argument("--namenodes", type=int, nargs="+", default=[1, 2, 4],
                   help="namenode counts on PostgreSQL (default 1 2 4)")
    p.add_argument("--files", type=int, default=400, help="small files to put (default 400)")
    p.add_argument("--kib", type=int, default=4, help="size of each small file, KiB (default 4)")
    p.add_argument("--dirs", type=int, default=1,
                   help="directories the put files are spread over (default 1: every create updates one row)")
    p.add_argument("--stat-rounds", type=int, default=2, help="GETFILESTATUS of every file, this many times")
    p.add_argument("--entries", type=int, default=500, help="entries of the listed directory (default 500)")
    p.add_argument("--listings", type=int, default=100, help="LISTSTATUS calls per run (default 100)")
    p.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    p.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "out", "namenodes"),
                   help="writes OUT.json and OUT.md (default bench/out/namenodes)")
    return p.parse_args(argv)


def setups(args):
    return [{"label": "sqlite ×1", "backend": "sqlite", "namenodes": 1, "runs": []}] + [
        {"label": f"postgresql ×{n}", "backend": "postgresql", "namenodes": n, "runs": []} for n in args.namenodes]


def measure(cluster, args, database_pid):
    """One run's figures on a started cluster."""
    fs = Clients(cluster.urls, args.clients)
    payloads = [os.urandom(args.kib * 1024) for _ in range(args.files)]
    files = [f"/bench/put/d{i % args.dirs}/f{i:05d}" for i in range(args.files)]
    for d in range(args.dirs):
        fs.call("PUT", f"/bench/put/d{d}", "MKDIRS")
    fs.call("PUT", "/bench/list", "MKDIRS")
    cpu = CPU([namenode.pid for namenode in cluster.namenodes], database_pid)

    since, refused = cpu.now(), conflicts(cluster)
    elapsed, _ = fs.run(lambda i: fs.create(files[i], payloads[i]), range(args.files))
    figures = {"put_files_per_s": args.files / elapsed,
               "put_conflicts_per_op": (conflicts(cluster) - refused) / args.files}
    cpu.per_op(figures, "put", since, args.files)

    since = cpu.now()
    elapsed, latencies = fs.run(lambda path: fs.call("GET", path, "GETFILESTATUS"), files * args.stat_rounds)
    figures.update(stat_req_per_s=len(latencies) / elapsed, stat_p50_ms=percentile(latencies, 0.5) * 1000)
    cpu.per_op(figures, "stat", since, len(latencies))

    fs.run(lambda i: fs.create(f"/bench/list/e{i:05d}", b""), range(args.entries))

    def listing(_):
        entries = fs.call("GET", "/bench/list", "LISTSTATUS").json()["FileStatuses"]["FileStatus"]
        if len(entries) != args.entries:
            raise RuntimeError(f"LISTSTATUS gave {len(entries)} entries, wanted {args.entries}")

    since = cpu.now()
    elapsed, _ = fs.run(listing, range(args.listings))
    figures["list_per_s"] = args.listings / elapsed
    cpu.per_op(figures, "list", since, args.listings)
    return figures


def table(results):
    subjects = results["setups"]
    lines = ["| figure | " + " | ".join(f"{s['label']} median (min–max)" for s in subjects) + " |",
             "|---|" + "---|" * len(subjects)]
    for name, unit, larger_better in FIGURES:
        lines.append(f"| {name} ({'higher' if larger_better else 'lower'} is better) | "
                     + " | ".join(figure_cells(subjects, name, unit)) + " |")
    notes = load_notes(subjects)
    notes.append(f"- {results['params']}; commit {results['commit']}; started {results['started']}; load average "
                 f"before {results['load_before']}, after {results['load_after']}; {results['machine']}")
    return "\n".join(lines + [""] + notes) + "\n"


def main(argv=None):
    args = parse_args(argv)
    checkout = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    results = {
        **run_facts({k: getattr(args, k) for k in ("runs", "files", "kib", "dirs", "stat_rounds", "entries",
                                                   "listings", "clients")}),
        "commit": commit_of(checkout),
        "setups": setups(args),
    }
    server = PostgresServer(durable=True).start()
    try:
        for run in range(args.runs):
            order = results["setups"] if run % 2 == 0 else results["setups"][::-1]
            for setup in order:
                load = round(os.getloadavg()[0], 2)
                figures = on_fresh_cluster(lambda cluster, pid: measure(cluster, args, pid), setup["backend"], server,
                                           namenodes=setup["namenodes"])
                figures["load_1min"] = load
                setup["runs"].append(figures)
                print(f"[run {run + 1}/{args.runs}] {setup['label']} "
                      + " ".join(f"{name}={figures[name]:.4g}" for name, _, _ in FIGURES), flush=True)
    finally:
        server.stop()
    for setup in results["setups"]:
        setup["median"] = {name: statistics.median(run[name] for run in setup["runs"]) for name, _, _ in FIGURES}
    results["load_after"] = load_average()
    write_results(args.out, results, table(results))


if __name__ == "__main__":
    main()
