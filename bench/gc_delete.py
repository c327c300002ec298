"""How long the blocks of a deleted tree stay on the datanodes' disks: fill a cluster, `rm -r` the tree, time the
request and then the wait until no block file of the tree is left on any disk (issue 24's "deletes" goal: within
the GC grace plus a minute, at any size).

    .venv/bin/python bench/gc_delete.py --files 10000                          # 10,000 one-block files
    .venv/bin/python bench/gc_delete.py --files 1000 --size 102400 --block-size 1024   # 100,000 blocks

Runs real `twistd` processes with the integration tests' Cluster and the namenode's default timings (heartbeats and
repair every 3 s), history off, no trash (a WebHDFS DELETE). Each file's bytes are distinct, so each block is its
own. Prints the fill, the delete request's time, and when the last block left the disks, counted from the end of the
grace; with --timeout it gives up and prints the share deleted by then (and the rate).
"""

import os
import sys
import time

import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from filled_cluster import DEFAULT_TIMINGS, cluster_options, fill, running_cluster  # noqa: E402


def parse_args(argv=None):
    parser = cluster_options(__doc__, 10_000, 1800, "seconds to wait after the grace")
    parser.add_argument("--block-size", type=int, default=None, help="blocksize= of each file (default: the cluster's)")
    parser.add_argument("--replication", type=int, default=3)
    parser.add_argument("--grace", type=float, default=30, help="the GC grace, seconds (default 30)")
    return parser.parse_args(argv)


def blocks_on_disk(cluster):
    return sum(len(cluster.block_files(i)) for i in range(len(cluster.datanodes)))


def main(argv=None):
    args = parse_args(argv)
    grace = ["--gc-grace", str(args.grace)]
    with running_cluster(args, "dfs-gc-bench-", datanode_args=grace,
                         namenode_args=[*DEFAULT_TIMINGS, *grace, "--replication", str(args.replication)]) as cluster:
        began = time.monotonic()
        fill(cluster, args.files, args.size, args.writers, args.block_size)
        total = blocks_on_disk(cluster)
        print(f"created {args.files} files of {args.size} bytes in {time.monotonic() - began:.0f} s:"
              f" {total} block replicas on {args.datanodes} datanodes", flush=True)
        began = time.monotonic()
        r = requests.delete(f"{cluster.url}/webhdfs/v1/bench", params={"op": "DELETE", "recursive": "true"},
                            timeout=600)
        r.raise_for_status()
        print(f"DELETE of the tree answered in {time.monotonic() - began:.2f} s", flush=True)
        grace_over = began + args.grace
        left = total
        while left and time.monotonic() < grace_over + args.timeout:
            time.sleep(1)
            left = blocks_on_disk(cluster)
        after = time.monotonic() - grace_over
        if left:
            gone = total - left
            print(f"gave up {after:.0f} s after the grace: {gone} of {total} replicas deleted"
                  f" ({gone / after:.1f}/s)", flush=True)
            return 1
        print(f"every replica off the disks {after:.1f} s after the grace ({time.monotonic() - began:.1f} s after"
              f" the DELETE, grace {args.grace:.0f} s)", flush=True)
        return 0


if __name__ == "__main__":
    sys.exit(main())
