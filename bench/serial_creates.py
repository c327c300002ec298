"""Latency of one client's serial CREATEs straight to the namenode, one keep-alive connection: the per-file cost a
serial untar or git clone pays (issue 24). Each request is `PUT /webhdfs/v1/...?op=CREATE&data=true` with --kib KiB
of fresh random bytes, then the same with an empty body, so the difference is what storing one block costs. The
files go under /bench, a directory of user ``x`` who sends them (so permissions are checked, as for any user's).

    .venv/bin/python bench/serial_creates.py --checkout /tmp/main --checkout . --runs 3
    .venv/bin/python bench/serial_creates.py --checkout /tmp/main --checkout . --runs 3 --store

Each run starts a fresh `python -m dfs.devcluster` of the checkout (its `dfs` package, this interpreter: one
namenode, three datanodes, replication 3 on loopback), warms it up with --warmup creates, then times --files creates
of each kind. Checkouts take turns (A B A B ...). Prints each run's p50 and p90 (ms), the medians of the runs' p50s
and the load average before and after.

With --store it times one datanode's part alone, which a loaded machine disturbs less: --files serial stores of a
--kib KiB block as an upload makes them (``BlockStore.new_sink``, ``write``, ``commit_sync``: the block, its
checksums and the directory made durable), in a process running the checkout's code on a fresh data directory.
"""

import argparse
import getpass
import http.client
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time


def start(checkout, port, root):
    """A devcluster of ``checkout`` on ``port`` (datanodes on the next ones); returns its process once ready."""
    env = dict(os.environ, PYTHONPATH=os.path.abspath(checkout), PYTHONUNBUFFERED="1")
    process = subprocess.Popen([sys.executable, "-m", "dfs.devcluster", "--root", root, "--port", str(port)],
                               cwd=checkout, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    for line in process.stdout:
        if "dfs cluster ready:" in line:
            return process
        if time.monotonic() > deadline:
            break
    stop(process)
    raise SystemExit(f"the devcluster of {checkout} did not start (see {root}/logs)")


def stop(process):
    process.send_signal(signal.SIGTERM)  # the devcluster stops its namenode and datanodes, then itself
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()


def creates(connection, prefix, count, size):
    """Seconds each of ``count`` serial CREATEs of ``size`` random bytes took."""
    times = []
    for i in range(count):
        body = os.urandom(size)
        began = time.perf_counter()
        connection.request("PUT", f"/webhdfs/v1/bench{prefix}/f{i}?op=CREATE&data=true&user.name=x", body=body,
                           headers={"Content-Type": "application/octet-stream"})
        response = connection.getresponse()
        response.read()
        times.append(time.perf_counter() - began)
        if response.status != 201:
            raise SystemExit(f"CREATE {prefix}/f{i} answered {response.status}")
    return times


def call(connection, method, url):
    connection.request(method, url)
    response = connection.getresponse()
    response.read()
    if response.status != 200:
        raise SystemExit(f"{method} {url} answered {response.status}")


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# One datanode's store of --files blocks, timed in a process of the checkout's code: argv is root, count, size.
STORES = """
import json, os, sys, time
from dfs.datanode.blockstore import BlockStore
store, times = BlockStore(sys.argv[1]), []
for _ in range(int(sys.argv[2])):
    began = time.perf_counter()
    sink = store.new_sink()
    sink.write(os.urandom(int(sys.argv[3])))
    store.commit_sync(sink)
    sink.close()
    times.append(time.perf_counter() - began)
print(json.dumps(times))
"""


def run_stores(checkout, args):
    root = tempfile.mkdtemp(prefix="serial-stores-", dir=args.tmp)
    try:
        out = subprocess.run([sys.executable, "-c", STORES, root, str(args.files), str(args.kib * 1024)],
                             cwd=checkout, env=dict(os.environ, PYTHONPATH=os.path.abspath(checkout)),
                             capture_output=True, text=True, check=True, timeout=600).stdout
    finally:
        shutil.rmtree(root, ignore_errors=True)
    times = json.loads(out)
    return {f"store of {args.kib} KiB": (percentile(times, 0.5) * 1000, percentile(times, 0.9) * 1000)}


def run(checkout, args):
    root = tempfile.mkdtemp(prefix="serial-creates-", dir=args.tmp)
    process = start(checkout, args.port, root)
    try:
        connection = http.client.HTTPConnection("127.0.0.1", args.port, timeout=60)
        superuser = getpass.getuser()  # the namenode's, as the devcluster runs it as this user
        call(connection, "PUT", f"/webhdfs/v1/bench?op=MKDIRS&user.name={superuser}")
        call(connection, "PUT", f"/webhdfs/v1/bench?op=SETOWNER&owner=x&user.name={superuser}")
        creates(connection, "/warmup", args.warmup, args.kib * 1024)
        figures = {}
        for kind, size in ((f"{args.kib} KiB", args.kib * 1024), ("empty", 0)):
            times = creates(connection, f"/{kind.replace(' ', '')}", args.files, size)
            figures[kind] = (percentile(times, 0.5) * 1000, percentile(times, 0.9) * 1000)
        connection.close()
        return figures
    finally:
        stop(process)
        shutil.rmtree(root, ignore_errors=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkout", action="append", required=True, help="a dfs checkout (twice: A and B, alternating)")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--files", type=int, default=200, help="timed creates of each kind per run (default 200)")
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--kib", type=int, default=1)
    p.add_argument("--port", type=int, default=8480)
    p.add_argument("--tmp", default=None, help="where the clusters' data goes (default: the system's temp dir)")
    p.add_argument("--store", action="store_true", help="time one datanode's stores alone, no cluster")
    args = p.parse_args(argv)
    print(f"load average before: {os.getloadavg()}", flush=True)
    results = {checkout: [] for checkout in args.checkout}
    for n in range(args.runs):
        for checkout in args.checkout:
            figures = (run_stores if args.store else run)(checkout, args)
            results[checkout].append(figures)
            shown = ", ".join(f"{kind} p50 {p50:.2f} ms p90 {p90:.2f} ms" for kind, (p50, p90) in figures.items())
            print(f"run {n + 1} {checkout}: {shown}  (load {os.getloadavg()[0]:.2f})", flush=True)
    for checkout, runs in results.items():
        medians = ", ".join(f"{kind} {statistics.median(r[kind][0] for r in runs):.2f} ms" for kind in runs[0])
        print(f"median p50 of {len(runs)} runs, {checkout}: {medians}")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
