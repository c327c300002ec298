"""What the benchmarks of the namespace alone share: a tree of one-block files built in one transaction, and a store
in a temporary directory."""

import argparse
import contextlib
import os
import shutil
import sys
import tempfile

sys.path.insert(0, ".")

from dfs.namenode.namespace.model import Extent  # noqa: E402
from dfs.namenode.namespace.sqlite import SQLiteNamespace  # noqa: E402


def tree_options(doc):
    """A parser with the tree's size: --files one-block files in --dirs directories."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--dirs", type=int, default=100)
    return parser


@contextlib.contextmanager
def temporary_store(prefix):
    """(its directory, a started SQLite namespace) in a new temporary directory; stopped and removed at the end."""
    root = tempfile.mkdtemp(prefix=prefix)
    try:
        store = SQLiteNamespace(os.path.join(root, "ns.sqlite"))
        store.start()
        yield root, store
        store.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


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
