"""What the benchmarks on a real cluster of small files share (the integration tests' Cluster, real `twistd`
processes on loopback ports the system picks): their options, the cluster's start and clean-up, and the fill."""

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

import requests

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))

from cluster import Cluster  # noqa: E402

HEADERS = {"Content-Type": "application/octet-stream"}
# The namenode's default timings, where a test cluster would shorten them.
DEFAULT_TIMINGS = ["--repair-interval", "3", "--safemode-extension", "3", "--stale-after", "10", "--dead-after", "30"]


def cluster_options(doc, files, timeout, timeout_help):
    """A parser with the options every such benchmark takes: the fill (--files of --size bytes by --writers), the
    cluster (--datanodes, --work) and how long to wait (--timeout)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--files", type=int, default=files, help=f"small files to create (default {files})")
    parser.add_argument("--size", type=int, default=1024, help="bytes per file (default 1024)")
    parser.add_argument("--datanodes", type=int, default=3)
    parser.add_argument("--writers", type=int, default=8, help="concurrent uploads while filling (default 8)")
    parser.add_argument("--timeout", type=float, default=timeout, help=timeout_help)
    parser.add_argument("--work", help="work directory (default: a temporary one, removed at the end)")
    return parser


@contextlib.contextmanager
def running_cluster(args, prefix, **options):
    """A started Cluster of ``args.datanodes`` (heartbeats every 3 s; ``options``: Cluster's) in ``args.work`` or a
    temporary directory; stopped at the end, and the temporary directory removed."""
    work = args.work or tempfile.mkdtemp(prefix=prefix)
    cluster = Cluster(work, datanodes=args.datanodes, heartbeat=3, **options)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)


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
