#!/usr/bin/env python3
"""Random 4 KiB reads of a big file through the Python client (issue 24, workload (h)'s pattern): each read on its
own (``Client.read``: the namenode's block locations, then the datanode) against one open reader
(``Client.open``: the locations once, then one datanode request a read), alternating, on a running cluster.

    python -m dfs.devcluster --root /tmp/dc --port 8480 &
    .venv/bin/python bench/issue24/client_reads.py --namenode http://127.0.0.1:8480

Every read is checked against the bytes written. Prints reads/s per run and mode, the medians, and the namenode's
GETFILEBLOCKLOCATIONS answers per read (its /metrics), with the load average.
"""

import argparse
import os
import random
import re
import statistics
import time
import urllib.request

from twisted.internet import defer, task

from dfs.client import Client
from dfs.http import make_http

LOCATED = re.compile(r'^dfs_http_requests_total\{[^}]*op="GETFILEBLOCKLOCATIONS"[^}]*\} (\S+)$', re.M)


def located(namenode):
    with urllib.request.urlopen(namenode + "/metrics", timeout=10) as r:
        return sum(float(value) for value in LOCATED.findall(r.read().decode()))


async def one_run(client, path, data, offsets, length, readers, mode):
    """Reads/s of the reads at ``offsets`` from ``readers`` concurrent readers, each read checked."""
    reader = await client.open(path) if mode == "reader" else None
    todo = iter(range(len(offsets)))

    async def read_all():
        for i in todo:
            offset = offsets[i]
            got = await (reader.read(offset, length) if reader else client.read(path, offset, length))
            if got != data[offset:offset + length]:
                raise AssertionError(f"{mode}: bytes at {offset} differ from what was written")

    started = time.perf_counter()
    await defer.gatherResults([defer.ensureDeferred(read_all()) for _ in range(readers)], consumeErrors=True)
    return len(offsets) / (time.perf_counter() - started)


async def main(reactor, args):
    http, pool = make_http(reactor)
    client = Client(http, args.namenode, reactor=reactor)
    data = os.urandom(args.size_mib << 20)
    path = "/bench-client-reads/big.bin"
    await client.write(path, data, overwrite=True)
    rates = {"read": [], "reader": []}
    for run in range(args.runs):
        rng = random.Random(run)
        offsets = [rng.randrange(len(data) - args.length + 1) for _ in range(args.reads)]
        for mode in (("read", "reader") if run % 2 == 0 else ("reader", "read")):
            before = located(args.namenode)
            rate = await one_run(client, path, data, offsets, args.length, args.readers, mode)
            per_read = (located(args.namenode) - before) / args.reads
            rates[mode].append(rate)
            print(f"run {run + 1} {mode:6}: {rate:7.1f} reads/s, {per_read:.3f} GETFILEBLOCKLOCATIONS a read, "
                  f"load {os.getloadavg()[0]:.1f}", flush=True)
    for mode, values in rates.items():
        print(f"{mode:6}: median {statistics.median(values):.1f} reads/s ({min(values):.1f}-{max(values):.1f})")
    await client.rm(path)
    await pool.closeCachedConnections()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--namenode", default="http://127.0.0.1:8180")
    parser.add_argument("--size-mib", type=int, default=128)
    parser.add_argument("--reads", type=int, default=2000)
    parser.add_argument("--length", type=int, default=4096)
    parser.add_argument("--readers", type=int, default=4)
    parser.add_argument("--runs", type=int, default=3)
    task.react(lambda r: defer.ensureDeferred(main(r, parser.parse_args())))
