"""What a backup of the SQLite namespace costs: build a namespace of --files one-block files (one transaction), then
take --repeat backups the way the namenode does (dfs.namenode.backup: online backup API, integrity check, fsync,
rename, holds) and restore the last one.

    .venv/bin/python bench/backup_cost.py --files 100000

Prints the database's size and, per backup, its size and the median time taken (copy and check), and the time of
`dfs admin restore-backup`'s work (check, copy, rename).
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, ".")
sys.path.insert(0, os.path.dirname(__file__))

from snapshot_cost import build, done  # noqa: E402

from dfs.namenode.backup import Backups  # noqa: E402
from dfs.namenode.namespace.sqlite_backup import restore  # noqa: E402
from dfs.namenode.namespace.sqlite import SQLiteNamespace  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--files", type=int, default=100_000)
    p.add_argument("--dirs", type=int, default=100)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    root = tempfile.mkdtemp(prefix="dfs-backup-bench-")
    store = SQLiteNamespace(os.path.join(root, "ns.sqlite"))
    store.start()
    started = time.perf_counter()
    done(build(store, args.files, args.dirs))
    print(f"namespace of {args.files} files built in {time.perf_counter() - started:.1f} s;"
          f" database {store.disk_usage() / 1e6:.1f} MB")
    backups = Backups(store, os.path.join(root, "backups"), args.repeat, 0, None)
    backups.reconcile()
    taken = [done(backups.take()) for _ in range(args.repeat)]
    seconds = statistics.median(t["seconds"] for t in taken)
    print(f"backup: {taken[-1]['bytes'] / 1e6:.1f} MB in {seconds:.2f} s (median of {args.repeat})")
    store.stop()
    started = time.perf_counter()
    restore(os.path.join(backups.directory, taken[-1]["name"]), store.db_path)
    print(f"restore-backup: {time.perf_counter() - started:.2f} s")


if __name__ == "__main__":
    main()
