"""What a backup of the SQLite namespace costs: build a namespace of --files one-block files (one transaction), then
take --repeat backups the way the namenode does (dfs.namenode.backup: online backup API, integrity check, fsync,
rename, holds) and restore the last one.

    .venv/bin/python bench/backup_cost.py --files 100000

Prints the database's size and, per backup, its size and the median time taken (copy and check); the latency of
small write transactions (one file each, fsync'd) while a backup runs in another thread, against the same writes
with no backup; and the time of `dfs admin restore-backup`'s work (check, copy, rename).
"""

import os
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))

from namespace_tree import build, temporary_store, tree_options  # noqa: E402

from dfs.namenode.backup import Backups, fired_result  # noqa: E402
from dfs.namenode.namespace.model import Extent  # noqa: E402
from dfs.namenode.namespace.sqlite_backup import copy_database, restore  # noqa: E402


def main():
    p = tree_options(__doc__)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    with temporary_store("dfs-backup-bench-") as (root, store):  # removed at the end: 10^6 files leave 2 GB behind
        started = time.perf_counter()
        fired_result(build(store, args.files, args.dirs))
        print(f"namespace of {args.files} files built in {time.perf_counter() - started:.1f} s;"
              f" database {store.disk_usage() / 1e6:.1f} MB")
        backups = Backups(store, os.path.join(root, "backups"), args.repeat, 0, None)
        backups.reconcile()
        taken = [fired_result(backups.take()) for _ in range(args.repeat)]
        seconds = statistics.median(t["seconds"] for t in taken)
        print(f"backup: {taken[-1]['bytes'] / 1e6:.1f} MB in {seconds:.2f} s (median of {args.repeat})")
        fired_result(store.mkdirs("/writes"))
        quiet = writes(store, "quiet", lambda started: time.perf_counter() - started < seconds)
        copying = threading.Thread(target=copy_database, args=(store.db_path, os.path.join(root, "during.sqlite3")))
        copying.start()
        during = writes(store, "during", lambda started: copying.is_alive())
        copying.join()
        for label, times in (("no backup", quiet), ("during a backup", during)):
            times.sort()
            print(f"writes, {label}: {len(times)}, p50 {times[len(times) // 2]:.1f} ms, p99"
                  f" {times[int(len(times) * 0.99)]:.1f} ms, max {times[-1]:.1f} ms")
        store.stop()
        started = time.perf_counter()
        restore(os.path.join(backups.directory, taken[-1]["name"]), store.db_path)
        print(f"restore-backup: {time.perf_counter() - started:.2f} s")


def writes(store, prefix, going):
    """Milliseconds of each one-file write transaction, run one after another while ``going(started)``."""
    times, started = [], time.perf_counter()
    while going(started) or not times:
        began = time.perf_counter()
        fired_result(store.create(f"/writes/{prefix}{len(times)}", [Extent(f"{len(times):064x}", 0, 1, 1)],
                                  overwrite=False))
        times.append((time.perf_counter() - began) * 1000)
    return times


if __name__ == "__main__":
    main()
