"""What a snapshot costs on a large tree: create one on a directory of --files files (in --dirs directories), then
read under it. Creation is one row whatever the tree's size (namespace.history); this measures it.

    .venv/bin/python bench/snapshot_cost.py                      # SQLite, in a temporary directory
    .venv/bin/python bench/snapshot_cost.py --db-url postgresql://...   # an empty PostgreSQL database

Prints the time to build the tree (one transaction), and the median of --repeat snapshot creations, of a stat of
a file under a snapshot, and of a listing of one directory under it.
"""

import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))

from namespace_tree import build, tree_options  # noqa: E402

from dfs.namenode.backup import fired_result  # noqa: E402
from dfs.namenode.namespace.backends import open_namespace  # noqa: E402


def timed(fn, repeat):
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fired_result(fn())
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main():
    p = tree_options(__doc__)
    p.add_argument("--repeat", type=int, default=20)
    p.add_argument("--db-url", help="an empty PostgreSQL database (default: SQLite in a temporary directory)")
    args = p.parse_args()
    location = args.db_url or tempfile.mkdtemp(prefix="dfs-snapshot-bench-") + "/ns.sqlite"
    store = open_namespace(location)
    store.start()
    started = time.perf_counter()
    fired_result(build(store, args.files, args.dirs))
    print(f"tree of {args.files} files in {args.dirs} directories built in {time.perf_counter() - started:.1f} s")
    fired_result(store.allow_snapshot("/big"))
    names = iter(range(args.repeat))
    create = timed(lambda: store.create_snapshot("/big", f"s{next(names)}"), args.repeat)
    stat = timed(lambda: store.past_stat("/big/.snapshot/s0/d0050/f00500"), args.repeat)
    listing = timed(lambda: store.past_listing("/big/.snapshot/s0/d0050"), 3)
    print(f"create snapshot: {create:.2f} ms; stat under it: {stat:.2f} ms; "
          f"listing of {args.files // args.dirs} entries under it: {listing:.0f} ms (medians)")
    store.stop()


if __name__ == "__main__":
    main()
