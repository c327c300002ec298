"""How long a restarted namenode refuses writes: fill a cluster with small files, restart the namenode, time it.

    .venv/bin/python bench/safemode_restart.py --files 100000      # the figure of issue 15 (82 s before the fix)
    .venv/bin/python bench/safemode_restart.py --files 5000        # a quick look

Runs with the dfs virtualenv (it starts real `twistd` processes with the integration tests' Cluster, on loopback
ports the system picks) and the namenode's default timings: heartbeats every 3 s, repair every 3 s, safe mode
extension 3 s. Prints how long after the restarted namenode listened the first write was accepted, and the
namenode's reason for leaving safe mode.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import requests

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))

from cluster import Cluster  # noqa: E402

HEADERS = {"Content-Type": "application/octet-stream"}
DEFAULT_TIMINGS = ["--repair-interval", "3", "--safemode-extension", "3", "--stale-after", "10", "--dead-after", "30"]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000, help="small files to create (default 100000)")
    parser.add_argument("--size", type=int, default=1024, help="bytes per file (default 1024)")
    parser.add_argument("--datanodes", type=int, default=3)
    parser.add_argument("--writers", type=int, default=8, help="concurrent uploads while filling (default 8)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for writes after the restart")
    parser.add_argument("--work", help="work directory (default: a temporary one, removed at the end)")
    return parser.parse_args(argv)


def fill(cluster, files, size, writers, block_size=None):
    """Create ``files`` files of random bytes (so each block is its own; ``block_size``: the files' blocksize=)
    under /bench, 1,000 per directory."""
    session = requests.Session()
    params = {"op": "CREATE", "data": "true", "overwrite": "true", **({"blocksize": block_size} if block_size else {})}

    def create(i):
        r = session.put(f"{cluster.url}/webhdfs/v1/bench/{i // 1000}/f{i}", data=os.urandom(size), headers=HEADERS,
                        params=params, timeout=120)
        r.raise_for_status()

    with ThreadPoolExecutor(writers) as pool:
        for done, _ in enumerate(pool.map(create, range(files)), 1):
            if done % 10_000 == 0:
                print(f"  {done} files", flush=True)


def time_restart(cluster, timeout):
    """Seconds from the restarted namenode's listening until it accepted a write (None: not within ``timeout``)."""
    cluster.namenode.stop()
    cluster.namenode.restart_on_same_port()
    started = time.monotonic()
    while time.monotonic() < started + timeout:
        r = requests.put(f"{cluster.url}/webhdfs/v1/probe", data=b"probe", headers=HEADERS, timeout=60,
                         params={"op": "CREATE", "data": "true", "overwrite": "true"})
        if r.status_code == 201:
            return time.monotonic() - started
        if r.status_code != 503:
            r.raise_for_status()
        time.sleep(0.05)
    return None


def main(argv=None):
    args = parse_args(argv)
    work = args.work or tempfile.mkdtemp(prefix="dfs-safemode-bench-")
    cluster = Cluster(work, datanodes=args.datanodes, heartbeat=3, namenode_args=DEFAULT_TIMINGS)
    try:
        cluster.start()
        began = time.monotonic()
        fill(cluster, args.files, args.size, args.writers)
        print(f"created {args.files} files of {args.size} bytes in {time.monotonic() - began:.0f} s", flush=True)
        accepted = time_restart(cluster, args.timeout)
        blocks = cluster.status()["safemode"]["blocks"]
        left = [line for line in cluster.namenode.log().splitlines() if "leaving safe mode" in line][-1:]
        print(f"restart with {blocks} blocks on {args.datanodes} datanodes: writes accepted after "
              f"{accepted if accepted is not None else float('nan'):.1f} s; namenode: {' '.join(left)}", flush=True)
        return 0 if accepted is not None else 1
    finally:
        cluster.stop()
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
