"""What a recursive delete costs the SQLite namespace, and what GC's query of the freed blocks costs after it: build
a tree of --files one-block files in --dirs directories (one transaction), delete it, then ask which of its blocks
are collectable (the query each repair pass runs over every replica no file names).

    .venv/bin/python bench/tree_delete_cost.py --files 100000
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))

from namespace_tree import build, temporary_store, tree_options  # noqa: E402

from dfs.namenode.backup import fired_result  # noqa: E402


def main():
    args = tree_options(__doc__).parse_args()
    with temporary_store("dfs-tree-delete-bench-") as (_, store):
        fired_result(build(store, args.files, args.dirs))
        blocks = [b for _, _, extents in fired_result(store.walk_files("/big")) for b in (e.block_id for e in extents)]
        started = time.perf_counter()
        assert fired_result(store.delete("/big", recursive=True)) is True
        deleted = time.perf_counter() - started
        started = time.perf_counter()
        found = fired_result(store.collectable(blocks, time.time()))
        print(f"{args.files} files in {args.dirs} directories: delete {deleted:.2f} s; collectable() of their"
              f" {len(blocks)} blocks {time.perf_counter() - started:.2f} s ({len(found)} found)")


if __name__ == "__main__":
    main()
