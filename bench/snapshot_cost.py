"""What a snapshot costs on a large tree: create one on a directory of --files files (in --dirs directories), then
read under it. Creation is one row whatever the tree's size (namespace.history); this measures it.

    .venv/bin/python bench/snapshot_cost.py                      # SQLite, in a temporary directory
    .venv/bin/python bench/snapshot_cost.py --db-url postgresql://...   # an empty PostgreSQL database

Prints the time to build the tree (one transaction), and the median of --repeat snapshot creations, of a stat of
a file under a snapshot, and of a listing of one directory under it.
"""

import argparse
import statistics
import sys
import tempfile
import time

sys.path.insert(0, ".")

from dfs.namenode.namespace.backends import open_namespace  # noqa: E402
from dfs.namenode.namespace.model import Extent  # noqa: E402


def build(store, files, dirs):
    def txn(db):
        top = store._mkdirs(db, "/big", 0o755, "dfs", "supergroup")
        per_dir = files // dirs
        for d in range(dirs):
            directory = store._new_inode(db, top.id, f"d{d:04d}", "DIRECTORY", 0, 0o755, "dfs", "supergroup", 0, 0)
            for f in range(per_dir):
                inode = store._new_inode(db, directory.id, f"f{f:05d}", "FILE", 10, 0o644, "dfs", "supergroup", 0, 0,
                                         3, 1 << 26)
                store._set_extents(db, inode.id, [Extent(f"{d:032x}{f:032x}", 0, 10, 10)])

    return store.run(txn)


def done(d):
    """The result of a Deferred that fired already (the store runs without a reactor), its error raised."""
    out = []
    d.addBoth(out.append)
    if hasattr(out[0], "raiseException"):
        out[0].raiseException()
    return out[0]


def timed(fn, repeat):
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        done(fn())
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--files", type=int, default=100_000)
    p.add_argument("--dirs", type=int, default=100)
    p.add_argument("--repeat", type=int, default=20)
    p.add_argument("--db-url", help="an empty PostgreSQL database (default: SQLite in a temporary directory)")
    args = p.parse_args()
    location = args.db_url or tempfile.mkdtemp(prefix="dfs-snapshot-bench-") + "/ns.sqlite"
    store = open_namespace(location)
    store.start()
    started = time.perf_counter()
    done(build(store, args.files, args.dirs))
    print(f"tree of {args.files} files in {args.dirs} directories built in {time.perf_counter() - started:.1f} s")
    done(store.allow_snapshot("/big"))
    names = iter(range(args.repeat))
    create = timed(lambda: store.create_snapshot("/big", f"s{next(names)}"), args.repeat)
    stat = timed(lambda: store.past_stat("/big/.snapshot/s0/d0050/f00500"), args.repeat)
    listing = timed(lambda: store.past_listing("/big/.snapshot/s0/d0050"), 3)
    print(f"create snapshot: {create:.2f} ms; stat under it: {stat:.2f} ms; "
          f"listing of {args.files // args.dirs} entries under it: {listing:.0f} ms (medians)")
    store.stop()


if __name__ == "__main__":
    main()
