"""How long a restarted namenode refuses writes: fill a cluster with small files, restart the namenode, time it.

    .venv/bin/python bench/safemode_restart.py --files 100000      # the figure of issue 15 (82 s before the fix)
    .venv/bin/python bench/safemode_restart.py --files 5000        # a quick look

Runs with the dfs virtualenv (it starts real `twistd` processes with the integration tests' Cluster, on loopback
ports the system picks) and the namenode's default timings: heartbeats every 3 s, repair every 3 s, safe mode
extension 3 s. Prints how long after the restarted namenode listened the first write was accepted, and the
namenode's reason for leaving safe mode.
"""

import os
import sys
import time

import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from filled_cluster import DEFAULT_TIMINGS, HEADERS, cluster_options, fill, running_cluster  # noqa: E402


def parse_args(argv=None):
    return cluster_options(__doc__, 100_000, 600, "seconds to wait for writes after the restart").parse_args(argv)


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
    with running_cluster(args, "dfs-safemode-bench-", namenode_args=DEFAULT_TIMINGS) as cluster:
        began = time.monotonic()
        fill(cluster, args.files, args.size, args.writers)
        print(f"created {args.files} files of {args.size} bytes in {time.monotonic() - began:.0f} s", flush=True)
        accepted = time_restart(cluster, args.timeout)
        blocks = cluster.status()["safemode"]["blocks"]
        left = [line for line in cluster.namenode.log().splitlines() if "leaving safe mode" in line][-1:]
        print(f"restart with {blocks} blocks on {args.datanodes} datanodes: writes accepted after "
              f"{accepted if accepted is not None else float('nan'):.1f} s; namenode: {' '.join(left)}", flush=True)
        return 0 if accepted is not None else 1


if __name__ == "__main__":
    sys.exit(main())
