"""What keeping history costs the namespace alone: small-file creates and renames per second with the history
triggers on and off, and how many bytes the history tables grow by per operation (SQLite's dbstat).

    .venv/bin/python bench/history_cost.py --runs 5 --ops 1500

Each run is a fresh SQLite database in a temporary directory, one fsync'd transaction per operation (as the
namenode commits a lone change). "off" drops the history triggers and numbers no commits: the namespace as it was
before history. Runs alternate off and on, so a change in the machine's load falls on both; medians are printed.
"""

import argparse
import statistics
import sys
import tempfile
import time

sys.path.insert(0, ".")

from dfs.namenode.backup import fired_result  # noqa: E402
from dfs.namenode.namespace.backends import open_namespace  # noqa: E402
from dfs.namenode.namespace.model import Extent  # noqa: E402

HISTORY = ("commits", "inodes_history", "dirents_history", "extents_history", "xattrs_history")


def fresh(history):
    store = open_namespace(tempfile.mkdtemp(prefix="dfs-history-bench-") + "/ns.sqlite")
    store.start()
    fired_result(store.mkdirs("/bench/moved"))
    if not history:
        def drop(db):
            for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN"
                                      " ('inodes', 'dirents', 'extents', 'xattrs') AND name NOT LIKE 'block_%'"
                                      ).fetchall():
                db.execute(f"DROP TRIGGER {name}")

        fired_result(store.run(drop))
        store._begin_commit = lambda db: None
    return store


def history_bytes(store):
    """Bytes of the history tables, their indexes and the commits (pages in use, as dbstat counts them)."""
    def txn(db):
        names = [name for (name,) in db.execute(
            "SELECT name FROM sqlite_master WHERE tbl_name IN (%s)" % ",".join("?" * len(HISTORY)), HISTORY)]
        return db.execute("SELECT COALESCE(SUM(pgsize - unused), 0) FROM dbstat WHERE name IN (%s)"
                          % ",".join("?" * len(names)), names).fetchone()[0]

    return fired_result(store.read(txn))


def timed(operations):
    """(operations per second of wall-clock time, milliseconds of this process's CPU time per operation)."""
    wall, cpu = time.perf_counter(), time.process_time()
    for operation in operations:
        fired_result(operation())
    count = len(operations)
    return count / (time.perf_counter() - wall), (time.process_time() - cpu) * 1000 / count


def run(history, ops):
    """(creates/s, CPU ms per create, renames/s, CPU ms per rename, history bytes per create, per rename)."""
    store = fresh(history)
    start_bytes = history_bytes(store)
    creates = timed([lambda i=i: store.create(f"/bench/f{i}", [Extent(f"{i:064x}", 0, 4096, 4096)], overwrite=False)
                     for i in range(ops)])
    created_bytes = history_bytes(store)
    renames = timed([lambda i=i: store.rename(f"/bench/f{i}", f"/bench/moved/f{i}", overwrite=False)
                     for i in range(ops)])
    renamed_bytes = history_bytes(store)
    store.stop()
    return (*creates, *renames, (created_bytes - start_bytes) / ops, (renamed_bytes - created_bytes) / ops)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5, help="runs with history off, and as many on (default 5)")
    p.add_argument("--ops", type=int, default=1500, help="creates, then as many renames, per run (default 1500)")
    args = p.parse_args()
    results = {False: [], True: []}
    for _ in range(args.runs):
        for history in (False, True):
            results[history].append(run(history, args.ops))
            line = results[history][-1]
            print(f"history {'on ' if history else 'off'}: creates/s {line[0]:.0f} ({line[1]:.3f} ms CPU),"
                  f" renames/s {line[2]:.0f} ({line[3]:.3f} ms CPU)", flush=True)
    off, on = ([statistics.median(column) for column in zip(*results[h])] for h in (False, True))
    for label, rate, cpu in (("creates", 0, 1), ("renames", 2, 3)):
        print(f"medians of {args.runs}: {label}/s {off[rate]:.0f} off, {on[rate]:.0f} on"
              f" ({on[rate] / off[rate] - 1:+.1%}); CPU per operation {off[cpu]:.3f} ms off, {on[cpu]:.3f} ms on"
              f" ({on[cpu] / off[cpu] - 1:+.1%})")
    print(f"history bytes per create {on[4]:.0f}, per rename {on[5]:.0f}")


if __name__ == "__main__":
    main()
