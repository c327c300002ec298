"""The balancer's moves a second onto a new empty datanode: fill three datanodes with one-block files, add a fourth,
run the balancer unthrottled to its end and divide its moves by its time (the whole run's, and that between the first
and the last move seen, which leaves out the planning before and the heartbeat awaited after).

    .venv/bin/python bench/balance_moves.py --files 2000 --size 262144     # 256-KiB blocks
    .venv/bin/python bench/balance_moves.py --files 2000 --size 4096       # 4-KiB blocks

Runs real `twistd` processes with the integration tests' Cluster and the namenode's default timings (heartbeats
every 3 s), replication 2. Each datanode offers twice what it holds after the fill (`--capacity`), so the new node
has to take about a third of the blocks' replicas on the three others to come within the threshold (10 points).
"""

import os
import sys
import time

import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from filled_cluster import DEFAULT_TIMINGS, cluster_options, fill, running_cluster  # noqa: E402

DATANODES = 3
REPLICATION = 2
THRESHOLD = 10
POLL = 0.2  # seconds between two looks at the run's progress


def parse_args(argv=None):
    parser = cluster_options(__doc__, 2000, 1800, "seconds the balancer may take")
    parser.set_defaults(size=256 * 1024, datanodes=DATANODES)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    capacity = 2 * args.files * REPLICATION * args.size // args.datanodes
    namenode_args = [*DEFAULT_TIMINGS, "--replication", str(REPLICATION)]
    datanode_args = ["--capacity", str(capacity), "--reserve", "0"]
    with running_cluster(args, "dfs-balance-bench-", namenode_args=namenode_args,
                         datanode_args=datanode_args) as cluster:
        began = time.monotonic()
        fill(cluster, args.files, args.size, args.writers)
        print(f"created {args.files} files of {args.size} bytes in {time.monotonic() - began:.0f} s", flush=True)
        cluster.add_datanode()
        cluster.wait_for(lambda s: s["totals"]["alive"] == args.datanodes + 1, 60, "the new datanode")
        load = os.getloadavg()[0]
        r = requests.post(f"{cluster.url}/cluster/balance", params={"threshold": THRESHOLD, "bandwidth": 1e6},
                          timeout=60)
        r.raise_for_status()
        deadline = time.monotonic() + args.timeout
        run = r.json()
        seen = []  # (when, moves done) at each change: the rate while moves are made, without the run's ends
        while run["state"] == "running" and time.monotonic() < deadline:
            time.sleep(POLL)
            run = cluster.get_json("/cluster/balance")
            if run["moves_done"] and (not seen or seen[-1][1] != run["moves_done"]):
                seen.append((time.monotonic(), run["moves_done"]))
        load = max(load, os.getloadavg()[0])
        moving = (seen[-1][1] - seen[0][1]) / (seen[-1][0] - seen[0][0]) if len(seen) > 1 else float("nan")
        print(f"balancer {run['state']}: {run['moves_done']} moves ({run['moves_failed']} not done) of"
              f" {args.size} bytes in {run['seconds']:.1f} s, {run['rounds']} rounds:"
              f" {run['moves_done'] / run['seconds']:.1f} moves/s over the run, {moving:.1f} while moving;"
              f" load average {load:.1f}", flush=True)
        assert cluster.fsck()["totals"]["status"] == "HEALTHY"
        return 0 if run["state"] == "balanced" else 1


if __name__ == "__main__":
    sys.exit(main())
