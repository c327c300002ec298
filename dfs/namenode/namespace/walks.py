"""Resolving paths inside a transaction: the inodes along a path, a directory's entries, and the permission check
that reads them first. Mixed into ``RelationalNamespace``."""

from dfs import paths
from dfs.errors import FileNotFound, IsADirectory, NotADirectory
from dfs.namenode.namespace.model import DIRECTORY, FILE, ROOT, Inode
from dfs.namenode.namespace.sql import INODE


class Walks:
    """Path resolution on the tables of schema/ (inside a transaction the caller runs)."""

    @staticmethod
    def _inode(db, inode_id):
        row = db.execute(f"SELECT {INODE} FROM inodes AS i WHERE id = ?", (inode_id,)).fetchone()
        return None if row is None else Inode(*row)

    @staticmethod
    def _child(db, parent_id, name):
        """The inode the entry ``name`` of the directory ``parent_id`` names, or None (two index lookups)."""
        row = db.execute(f"SELECT {INODE} FROM dirents AS d JOIN inodes AS i ON i.id = d.inode"
                         " WHERE d.parent = ? AND d.name = ?", (parent_id, name)).fetchone()
        return None if row is None else Inode(*row)

    def _path(self, db, path, free=False, walked=None):
        """The inodes along ``path`` from the root. With ``free``, the last is None when the final name is free
        (its parent directory exists); otherwise a missing name raises FileNotFound. ``walked`` is ``path``'s
        ``_walk`` when this transaction made one already (``_check``'s): it is not read again."""
        names = paths.split(path)
        chain = self._walk(db, path) if walked is None else walked
        found = len(chain) - 1  # the names the walk got through
        if found == len(names):
            return chain
        if chain[-1].type != DIRECTORY:
            raise NotADirectory(f"Parent path is not a directory: /{'/'.join(names[:found])}")
        if free and found == len(names) - 1:
            return [*chain, None]
        raise FileNotFound(f"File does not exist: /{'/'.join(names[:found + 1])}")

    def _resolve(self, db, path, walked=None):
        return self._path(db, path, walked=walked)[-1]

    def _lookup(self, db, path, walked=None):
        """The inode at ``path``, or None when the path is free (but its parent directory exists)."""
        return self._path(db, path, free=True, walked=walked)[-1]

    def _walk(self, db, path):
        """The inodes along ``path`` from the root as far as they exist (a file ends the walk): what a permission
        check reads, for paths that may not exist yet."""
        node = self._inode(db, ROOT)
        chain = [node]
        for name in paths.split(path):
            if node.type != DIRECTORY:
                break
            node = self._child(db, node.id, name)
            if node is None:
                break
            chain.append(node)
        return chain

    def _check(self, db, checker, op, path, destination=None, sources=(), replacing=None, **details):
        """Run ``checker``'s checks of WebHDFS ``op`` (None, a superuser, or checking off: none, and no inode read),
        first thing in the operation's transaction, so no change can slip between the decision and the act.
        ``destination`` and ``sources`` are paths; ``replacing`` the path an overwrite would replace, if any.
        Returns the walk of ``path`` it read (for ``_path``'s ``walked``), or None when it read none."""
        if checker is None or checker.unchecked:
            return None
        walked = self._walk(db, path)
        if destination is not None:
            details["destination"] = (destination, self._walk(db, destination))
        if replacing is not None:
            chain = walked if replacing == path else self._walk(db, replacing)
            details["overwrite"] = len(chain) == len(paths.split(replacing)) + 1 and chain[-1].type == FILE
        checker.check_operation(op, path, walked,
                                sources=[(source, self._walk(db, source)) for source in sources], **details)
        return walked

    def _lister(self, db):
        """A directory Inode's ``[(name, Inode)]``, each directory read once, for a subtree check and the walk
        that follows it in the same transaction."""
        listed = {}

        def entries(inode):
            if inode.id not in listed:
                listed[inode.id] = self._entries(db, inode.id)
            return listed[inode.id]

        return entries

    def _file(self, db, path):
        inode = self._resolve(db, path)
        if inode.type == DIRECTORY:
            raise IsADirectory(f"Path is a directory, not a file: {path}")
        if inode.type != FILE:
            raise FileNotFound(f"Path is not a file: {path}")
        return inode

    def _directory(self, db, path):
        inode = self._resolve(db, path)
        if inode.type != DIRECTORY:
            raise NotADirectory(f"Parent path is not a directory: {path}")
        return inode

    @staticmethod
    def _entries(db, inode_id, order=""):
        """[(name, Inode)] of the directory ``inode_id``'s entries (``order``: "ASC"/"DESC" by name, or none)."""
        query = f"SELECT d.name, {INODE} FROM dirents AS d JOIN inodes AS i ON i.id = d.inode WHERE d.parent = ?"
        if order:
            query += f" ORDER BY d.name {order}"
        return [(row[0], Inode(*row[1:])) for row in db.execute(query, (inode_id,))]

    @staticmethod
    def _has_entries(db, inode_id):
        return db.execute("SELECT 1 FROM dirents WHERE parent = ? LIMIT 1", (inode_id,)).fetchone() is not None
