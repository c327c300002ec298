"""A recursive delete costs a fixed number of statements, not one per file, on both backends, and keeps what hard
links from outside the tree still name."""

import hashlib

from test_metadata import result

from dfs.namenode.namespace.model import Extent


def _block(i):
    return hashlib.sha256(str(i).encode()).hexdigest()


class _Counting:
    """A database handle that counts the statements a transaction sends."""

    def __init__(self, db, counts):
        self._db, self._counts = db, counts

    def execute(self, query, *args):
        self._counts.append(query)
        return self._db.execute(query, *args)

    def __getattr__(self, name):
        return getattr(self._db, name)


def _statements_of_delete(namespace, path):
    counts = []
    run = namespace.run
    namespace.run = lambda fn, *args: run(lambda db, *rest: fn(_Counting(db, counts), *rest), *args)
    try:
        assert result(namespace.delete(path, recursive=True)) is True
    finally:
        namespace.run = run
    return len(counts)


def _tree(namespace, root, files, directories):
    for i in range(files):
        result(namespace.create(f"{root}/d{i % directories}/f{i}", [Extent(_block(f"{root}{i}"), 0, 1, 1)], False))


def test_a_tree_delete_takes_as_many_statements_for_600_files_as_for_6(namespace):
    _tree(namespace, "/small", 6, 3)
    _tree(namespace, "/big", 600, 30)
    small = _statements_of_delete(namespace, "/small")
    assert _statements_of_delete(namespace, "/big") == small <= 15


def test_a_tree_delete_keeps_a_file_linked_from_outside_and_drops_the_rest(namespace):
    _tree(namespace, "/t", 4, 2)
    result(namespace.mkdirs("/out"))
    result(namespace.link("/t/d0/f0", "/out/kept"))
    result(namespace.link("/t/d1/f1", "/t/d0/again"))  # two links, both in the tree
    result(namespace.set_xattr("/t/d1", "user.k", b"v", create=True, replace=False))
    assert result(namespace.delete("/t", recursive=True)) is True
    kept = result(namespace.status("/out/kept")).inode
    assert kept.nlink == 1 and result(namespace.walk_files("/out"))[0][2] == [Extent(_block("/t0"), 0, 1, 1)]
    assert result(namespace.walk_files("/")) == result(namespace.walk_files("/out"))
    assert result(namespace.namespace_problems()) == []

    def leftovers(db):
        return {table: db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] for table in ("extents", "xattrs")}

    assert result(namespace.read(leftovers)) == {"extents": 1, "xattrs": 0}
