#!/usr/bin/env python3
"""Workload (g) of bench/run.py — 1 KiB creates into one directory from concurrent clients, then a stat p50 — on
one dfs checkout or two alternating, with the namenode's CPU time per request (issue 24).

    bench/.venv/bin/python bench/issue24/nncpu.py --checkout /tmp/base --checkout . --runs 3 --out bench/out/nncpu
    bench/.venv/bin/python bench/issue24/nncpu.py --checkout . --runs 1 --profile bench/out/nncpu-profiles

Each run starts a fresh devcluster of the checkout (bench/systems.py's DfsCluster: its `dfs` on PYTHONPATH, its
`.venv/bin/python`), creates --creates files of 1 KiB with --clients clients (run.py --quick: 2,000 and 16), then
stats --stats (500) of them one after another, and reads the namenode's CPU time (user + system, all threads) around
each phase, and the datanodes' (together) around the creates. The checkouts take turns (A B A B ...; B first in every
other round). A figure is the median over the runs.
With --profile, py-spy records the namenode during each phase and the summary goes beside the raw profiles.
"""

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
from pathlib import Path

import psutil

BENCH = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BENCH))

import profiling  # noqa: E402
import workloads  # noqa: E402
from systems import DfsCluster  # noqa: E402

FIGURES = [("creates_per_s", True), ("create_namenode_cpu_ms", False), ("create_datanodes_cpu_ms", False),
           ("stat_p50_ms", False), ("stat_namenode_cpu_ms", False)]
STATS = 500


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkout", action="append", required=True, help="a dfs work tree with its .venv (repeatable)")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--creates", type=int, default=2000)
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--stats", type=int, default=STATS, help="GETFILESTATUS requests, one after another")
    p.add_argument("--port", type=int, default=8480, help="namenode port; the datanodes take the next three")
    p.add_argument("--profile", default=None, metavar="DIR", help="py-spy the namenode into DIR")
    p.add_argument("--out", default=None, help="write OUT.json and OUT.md")
    return p.parse_args()


def cpu_seconds(pids):
    total = 0.0
    for pid in pids:
        times = psutil.Process(pid).cpu_times()
        total += times.user + times.system
    return total


def measured(pids, action, count, recording=None):
    """(the action's figure, [CPU ms per request during it of each group of ``pids``])."""
    before = [cpu_seconds(group) for group in pids]
    try:
        value = asyncio.run(action())
    finally:
        if recording is not None:
            recording.stop()
    return value, [(cpu_seconds(group) - start) * 1000 / count for group, start in zip(pids, before)]


def one_run(checkout, args, workdir, profile_dir):
    cluster = DfsCluster(checkout, Path(checkout) / ".venv" / "bin" / "python", workdir, port=args.port)
    cluster.start()
    try:
        namenode = cluster.processes()["dfs namenode"]
        datanodes = [pid for label, pid in cluster.processes().items() if label.startswith("dfs datanode")]
        directory = "/bench/many"

        async def mkdirs():
            async with workloads.session() as s:
                await cluster.client.mkdirs(s, directory)

        asyncio.run(mkdirs())

        def record(name):
            if profile_dir is None:
                return None
            return profiling.Recording(profiling.find_py_spy(), {"namenode": namenode}, profile_dir, name)

        creates, (create_cpu, datanodes_cpu) = measured(
            [[namenode], datanodes],
            lambda: workloads.create_many(cluster.client, directory, args.creates, args.clients), args.creates,
            record("creates"))
        stat, (stat_cpu,) = measured(
            [[namenode]], lambda: workloads.stat_p50(cluster.client, directory, args.creates, args.stats), args.stats,
            record("stats"))
    finally:
        cluster.stop()
    return {"creates_per_s": creates, "create_namenode_cpu_ms": create_cpu,
            "create_datanodes_cpu_ms": datanodes_cpu, "stat_p50_ms": stat,
            "stat_namenode_cpu_ms": stat_cpu}


def main():
    args = parse_args()
    checkouts = [str(Path(c).resolve()) for c in args.checkout]
    runs = {c: [] for c in checkouts}
    for run in range(args.runs):
        order = checkouts if run % 2 == 0 else checkouts[::-1]
        for checkout in order:
            with tempfile.TemporaryDirectory(prefix="dfs-nncpu-") as workdir:
                profile_dir = None if args.profile is None else Path(args.profile) / Path(checkout).name
                figures = one_run(checkout, args, workdir, profile_dir)
            figures["load"] = psutil.getloadavg()[0]
            runs[checkout].append(figures)
            print(f"[run {run + 1}/{args.runs}] {checkout}: " + ", ".join(
                f"{k} {v:.2f}" for k, v in figures.items()), flush=True)
    medians = {c: {name: statistics.median(r[name] for r in runs[c]) for name, _ in FIGURES} for c in checkouts}
    lines = ["| figure | " + " | ".join(checkouts) + (" | ratio B/A |" if len(checkouts) == 2 else " |"),
             "|---|" + "---|" * (len(checkouts) + (len(checkouts) == 2))]
    for name, _ in FIGURES:
        cells = [f"{medians[c][name]:.2f}" for c in checkouts]
        if len(checkouts) == 2:
            cells.append(f"{medians[checkouts[1]][name] / medians[checkouts[0]][name]:.2f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    print("\n".join(lines))
    if args.profile:
        for path in sorted(Path(args.profile).rglob("*.txt")):
            print(f"== {path}\n" + "\n".join(profiling.summarize(path, top=25)))
    if args.out:
        Path(args.out + ".json").write_text(json.dumps({"runs": runs, "medians": medians}, indent=1))
        Path(args.out + ".md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
