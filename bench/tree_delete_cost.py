"""What a recursive delete costs the SQLite namespace, and what GC's query of the freed blocks costs after it: build
a tree of --files one-block files in --dirs directories (one transaction), delete it, then ask which of its blocks
are collectable (the query each repair pass runs over every replica no file names).

    .venv/bin/python bench/tree_delete_cost.py --files 100000
"""

import argparse
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, ".")
sys.path.insert(0, os.path.dirname(__file__))

from snapshot_cost import build, done  # noqa: E402

from dfs.namenode.namespace.sqlite import SQLiteNamespace  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--files", type=int, default=100_000)
    p.add_argument("--dirs", type=int, default=100)
    args = p.parse_args()
    root = tempfile.mkdtemp(prefix="dfs-tree-delete-bench-")
    try:
        store = SQLiteNamespace(os.path.join(root, "ns.sqlite"))
        store.start()
        done(build(store, args.files, args.dirs))
        blocks = [b for _, _, extents in done(store.walk_files("/big")) for b in (e.block_id for e in extents)]
        started = time.perf_counter()
        assert done(store.delete("/big", recursive=True)) is True
        deleted = time.perf_counter() - started
        started = time.perf_counter()
        found = done(store.collectable(blocks, time.time()))
        print(f"{args.files} files in {args.dirs} directories: delete {deleted:.2f} s; collectable() of their"
              f" {len(blocks)} blocks {time.perf_counter() - started:.2f} s ({len(found)} found)")
        store.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
