"""What the namenode's replica map costs in process: bytes per replica (tracemalloc) and the pause of a full
collection of Python's cyclic GC over it.

    .venv/bin/python bench/replica_map.py --replicas 1000000 --datanodes 100 --replication 3

Block i is held by datanodes i, i+1, ... (mod --datanodes); each datanode registers and sends its full report in
pieces of raw ids, decoded as the namenode decodes them (so each report brings its own str per block id, as on the
wire). Prints the bytes `dfs.namenode.registry.Registry` holds per replica and per block, and the process CPU a
`gc.collect()` takes once the map is built.
"""

import argparse
import gc
import hashlib
import os
import sys
import time
import tracemalloc

from twisted.internet.task import Clock

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from dfs import blockreports  # noqa: E402
from dfs.namenode.registry import Registry  # noqa: E402


def reports(blocks, datanodes, replication):
    """{node id: the pieces of its full report}: block i on nodes i, i+1, ... i+replication-1 (mod datanodes)."""
    ids = [hashlib.sha256(b"%d" % i).hexdigest() for i in range(blocks)]
    held = {f"dn{k:04d}": [] for k in range(datanodes)}
    nodes = list(held)
    for i, block_id in enumerate(ids):
        for k in range(replication):
            held[nodes[(i + k) % datanodes]].append(block_id)
    return {node_id: blockreports.pieces(block_ids) for node_id, block_ids in held.items()}


def fill(registry, pieces_by_node):
    """Register every node and apply its report piece by piece, as the namenode's report route does."""
    for node_id, pieces in pieces_by_node.items():
        registry.register(node_id, f"http://{node_id}", f"http://{node_id}", 1, 0, 1, None)
        for number, piece in enumerate(pieces):
            registry.report_piece(node_id, "bench", number, len(pieces), blockreports.decode(piece))


def measure(replicas, datanodes, replication):
    """(bytes per replica the registry holds, CPU seconds of a full collection with it built)."""
    pieces_by_node = reports(replicas // replication, datanodes, replication)
    gc.collect()
    tracemalloc.start()
    start = tracemalloc.get_traced_memory()[0]
    registry = Registry(Clock())
    fill(registry, pieces_by_node)
    held = tracemalloc.get_traced_memory()[0] - start
    tracemalloc.stop()
    del pieces_by_node
    started = time.process_time()
    gc.collect()
    pause = time.process_time() - started
    assert sum(len(n.blocks) for n in registry.nodes.values()) == replicas // replication * replication
    return held / replicas, pause


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=1_000_000)
    parser.add_argument("--datanodes", type=int, default=100)
    parser.add_argument("--replication", type=int, default=3)
    args = parser.parse_args(argv)
    per_replica, pause = measure(args.replicas, args.datanodes, args.replication)
    print(f"{args.replicas} replicas on {args.datanodes} datanodes, replication {args.replication}: "
          f"{per_replica:.0f} bytes per replica ({per_replica * args.replication:.0f} per block); "
          f"a full gc.collect() {pause * 1000:.0f} ms of CPU; load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
