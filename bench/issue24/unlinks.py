#!/usr/bin/env python3
"""One unlink's and one rmdir's latency through a `dfs mount`, beside a DELETE sent straight to the namenode, and
`rm -rf` of an untarred tree (issue 24), for one or more checkouts run in turn (alternating), dfs alone.

    .venv/bin/python bench/issue24/unlinks.py --checkout /tmp/main --checkout . --runs 3 --tarball stdlib.tar

Each run starts a devcluster of the checkout (its `dfs` first on PYTHONPATH, this Python), mounts it with
`dfs mount -f`, then: N empty files made straight on the namenode, a listing of their directory after the
caches' timeouts (so the kernel's lookups are answered from it, as in `rm -rf`), and `os.unlink` of each through
the mount, timed one by one; the same for 100 empty directories and `os.rmdir`; N DELETEs straight to the
namenode (keep-alive `http.client`); the namenode's own mean time per DELETE during the unlinks and per SQLite
transaction (its /metrics: dfs_http_request_duration_seconds, dfs_sqlite_transaction_seconds); with --tarball,
`tar -xf` into the mount and, after the timeouts, `rm -rf` of the tree. Prints one JSON line per run (p50s in ms,
seconds, the 1-minute load average) and the medians.
"""

import argparse
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

COOL_DOWN = 2.5  # past the kernel's and the mount's 1-s timeouts
DIRECTORIES = 100
# The sums and counts of the namenode's DELETE answers and SQLite transactions in its /metrics.
SERVED = {
    "delete": re.compile(r'^dfs_http_request_duration_seconds_(sum|count)\{code="200",op="DELETE"\} (\S+)$', re.M),
    "transaction": re.compile(r"^dfs_sqlite_transaction_seconds_(sum|count) (\S+)$", re.M),
}


def parse_args():
    p = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    p.add_argument("--checkout", action="append", help="a dfs work tree (repeatable; default .)")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--files", type=int, default=300)
    p.add_argument("--tarball", help="a tar to untar into the mount and rm -rf (bench/run.py --quick's: 1,500 "
                                     "entries of the standard library)")
    p.add_argument("--port", type=int, default=18580)
    args = p.parse_args()
    args.checkout = [str(Path(c).resolve()) for c in args.checkout or ["."]]
    return args


class Namenode:
    """Keep-alive WebHDFS requests as the superuser."""

    def __init__(self, port):
        self._connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def served(self):
        """{what: (seconds, count)} so far of the namenode's DELETE answers and SQLite transactions."""
        self._connection.request("GET", "/metrics")
        text = self._connection.getresponse().read().decode()
        found = {}
        for what, pattern in SERVED.items():
            values = dict(pattern.findall(text))
            found[what] = (float(values.get("sum", 0)), float(values.get("count", 0)))
        return found

    def __call__(self, method, path, op, **query):
        query = urllib.parse.urlencode({"op": op, "user.name": "root", **query})
        self._connection.request(method, f"/webhdfs/v1{path}?{query}")
        response = self._connection.getresponse()
        body = response.read()
        if response.status >= 400:
            raise RuntimeError(f"{method} {path} {op}: {response.status} {body[:200]!r}")


def timed(action):
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def p50_ms(seconds):
    return round(1000 * statistics.median(seconds), 3)


def wait_for(check, seconds, what):
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not happen within {seconds} s")
        time.sleep(0.1)


def one_run(checkout, args, workdir):
    env = dict(os.environ, PYTHONPATH=checkout)
    cluster = subprocess.Popen([sys.executable, "-m", "dfs.devcluster", "--root", str(workdir / "cluster"), "--port",
                                str(args.port), "--datanodes", "1", "--replication", "1"], cwd=checkout, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    mountpoint = workdir / "mnt"
    mountpoint.mkdir()
    mount = None
    try:
        for line in cluster.stdout:
            if "cluster ready" in line:
                break
        else:
            raise RuntimeError("the devcluster exited")
        mount = subprocess.Popen([sys.executable, "-c", "import sys; from dfs.cli import main; sys.exit(main())",
                                  "mount", str(mountpoint), "--namenode", f"http://127.0.0.1:{args.port}", "-f",
                                  "-o", f"cache_dir={workdir}"], cwd=checkout, env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: os.path.ismount(mountpoint), 60, "the mount")
        return measure(Namenode(args.port), str(mountpoint), args)
    finally:
        if mount is not None:
            subprocess.run(["fusermount", "-u", str(mountpoint)], check=False, capture_output=True)
            mount.terminate()
            mount.wait(timeout=30)
        cluster.terminate()
        cluster.wait(timeout=30)


def measure(namenode, mountpoint, args):
    figures = {"load": round(os.getloadavg()[0], 2)}
    namenode("PUT", "/files", "MKDIRS")
    for i in range(args.files):
        namenode("PUT", f"/files/f{i}", "CREATE", data="true")
    namenode("PUT", "/direct", "MKDIRS")
    for i in range(args.files):
        namenode("PUT", f"/direct/f{i}", "CREATE", data="true")
    for i in range(DIRECTORIES):
        namenode("PUT", f"/dirs/d{i}", "MKDIRS")
    figures["direct_delete_ms"] = p50_ms([timed(lambda i=i: namenode("DELETE", f"/direct/f{i}", "DELETE"))
                                          for i in range(args.files)])
    time.sleep(COOL_DOWN)
    os.listdir(f"{mountpoint}/files")
    before = namenode.served()
    figures["unlink_ms"] = p50_ms([timed(lambda i=i: os.unlink(f"{mountpoint}/files/f{i}"))
                                   for i in range(args.files)])
    for what, (seconds, count) in namenode.served().items():
        spent, answered = seconds - before[what][0], count - before[what][1]
        figures[f"namenode_{what}_mean_ms"] = round(1000 * spent / max(answered, 1), 3)
    os.listdir(f"{mountpoint}/dirs")
    figures["rmdir_ms"] = p50_ms([timed(lambda i=i: os.rmdir(f"{mountpoint}/dirs/d{i}")) for i in range(DIRECTORIES)])
    if args.tarball:
        tree = f"{mountpoint}/tree"
        os.mkdir(tree)
        figures["untar_s"] = round(timed(lambda: subprocess.run(["tar", "-xf", args.tarball, "-C", tree],
                                                                check=True)), 2)
        time.sleep(COOL_DOWN)
        figures["load_rm"] = round(os.getloadavg()[0], 2)
        figures["rm_rf_s"] = round(timed(lambda: subprocess.run(["rm", "-rf", tree], check=True)), 2)
    return figures


def main():
    args = parse_args()
    runs = {c: [] for c in args.checkout}
    with tempfile.TemporaryDirectory(prefix="dfs-unlinks-") as scratch:
        for run in range(args.runs):
            for checkout in args.checkout if run % 2 == 0 else args.checkout[::-1]:
                workdir = Path(scratch) / f"run{run}-{args.checkout.index(checkout)}"
                workdir.mkdir()
                figures = one_run(checkout, args, workdir)
                runs[checkout].append(figures)
                print(json.dumps({"run": run + 1, "checkout": checkout, **figures}), flush=True)
    for checkout, results in runs.items():
        medians = {key: statistics.median(r[key] for r in results) for key in results[0]}
        print(json.dumps({"checkout": checkout, "medians": medians}), flush=True)


if __name__ == "__main__":
    main()
