"""The namespace's reads of the present: an inode, its status, a listing, a content summary, every file of a tree.
Mixed into ``RelationalNamespace``."""

from dfs.namenode.namespace import fsck
from dfs.namenode.namespace.model import DIRECTORY, FILE, ContentSummary, Inode, Status
from dfs.namenode.namespace.sql import INODE

# The number of entries of the directory ``i``: WebHDFS's childrenNum (an indexed count on dirents' key).
CHILD_COUNT = "CASE WHEN i.type = 'DIRECTORY' THEN (SELECT COUNT(*) FROM dirents AS c WHERE c.parent = i.id) ELSE 0 END"
# The subdirectories of the directory ``i`` (its POSIX link count is 2 more). Counted when read rather than kept in
# ``nlink``: keeping it would make every mkdir, rmdir and rename of a directory update its parent's row too, and
# ``nlink`` stays what fsck compares with the entries naming an inode.
SUBDIRECTORY_COUNT = ("CASE WHEN i.type = 'DIRECTORY' THEN (SELECT COUNT(*) FROM dirents AS c JOIN inodes AS ci"
                      " ON ci.id = c.inode WHERE c.parent = i.id AND ci.type = 'DIRECTORY') ELSE 0 END")
# The bytes of the file ``i`` that no block holds (its holes): what a sparse file does not store.
HOLE_BYTES = ("CASE WHEN i.type = 'FILE' THEN (SELECT COALESCE(SUM(e.length), 0) FROM extents AS e"
              " WHERE e.inode = i.id AND e.block_id IS NULL) ELSE 0 END")
# A directory's entries and subdirectories, over its dirents ``d`` joined with their inodes ``i``.
COUNTS = "COUNT(*), COUNT(CASE WHEN i.type = 'DIRECTORY' THEN 1 END)"
# Whether ``i`` is a snapshottable directory (WebHDFS's snapshotEnabled): 1 or 0.
SNAPSHOTTABLE = "CASE WHEN EXISTS (SELECT 1 FROM snapshottable AS t WHERE t.inode = i.id) THEN 1 ELSE 0 END"


class Reads:
    """The interface's reads (namespace.interface), on the tables of schema/."""

    @staticmethod
    def _holes(db, inode):
        """The bytes of ``inode`` no block holds (0 unless it is a sparse file)."""
        return db.execute(f"SELECT {HOLE_BYTES} FROM inodes AS i WHERE i.id = ?", (inode.id,)).fetchone()[0]

    def _directory_status(self, db, inode):
        """The Status of the directory ``inode``: its counts and whether it is snapshottable, in one statement."""
        entries, subdirectories, snapshottable = db.execute(
            f"SELECT {COUNTS}, EXISTS (SELECT 1 FROM snapshottable WHERE inode = ?) FROM dirents AS d"
            " JOIN inodes AS i ON i.id = d.inode WHERE d.parent = ?", (inode.id, inode.id)).fetchone()
        return Status(inode, "", entries, subdirectories, snapshot_enabled=bool(snapshottable))

    @staticmethod
    def _counts(db, inode_id):
        """(entries, subdirectories) of the directory ``inode_id``."""
        return db.execute(f"SELECT {COUNTS} FROM dirents AS d JOIN inodes AS i ON i.id = d.inode WHERE d.parent = ?",
                          (inode_id,)).fetchone()

    def stat(self, path, checker=None):
        """(the Inode at ``path``, its extents): extents only for files."""

        def txn(db):
            inode = self._resolve(db, path, self._check(db, checker, "OPEN", path))
            return inode, self._extents(db, inode.id) if inode.type == FILE else []

        return self.lookup(txn)

    def path_inodes(self, path):
        return self.lookup(self._path, path, True)

    def status(self, path, checker=None):
        """The Status at ``path``. The walk is a lookup (on SQLite, on the reactor); a directory's count is a read
        (on a thread), since counting a large directory takes milliseconds."""

        def counted(found):
            inode, holes = found
            if inode.type != DIRECTORY:
                return Status(inode, holes=holes)
            return self.read(lambda db: self._directory_status(db, inode))

        def txn(db):
            inode = self._resolve(db, path, self._check(db, checker, "GETFILESTATUS", path))
            return inode, self._holes(db, inode) if inode.type == FILE else 0

        return self.lookup(txn).addCallback(counted)

    def listing(self, path, start_after=None, limit=None, checker=None):
        def txn(db):
            inode = self._resolve(db, path, self._check(db, checker, "LISTSTATUS", path))
            if inode.type != DIRECTORY:
                return Status(inode, holes=self._holes(db, inode)), None
            query = (f"SELECT d.name, {CHILD_COUNT}, {SUBDIRECTORY_COUNT}, {HOLE_BYTES}, {SNAPSHOTTABLE}, {INODE}"
                     " FROM dirents AS d"
                     " JOIN inodes AS i ON i.id = d.inode WHERE d.parent = ?")
            args = [inode.id]
            if start_after is not None:
                query += " AND d.name > ?"
                args.append(start_after)
            query += " ORDER BY d.name"
            if limit is not None:
                query += " LIMIT ?"
                args.append(limit)
            entries = [Status(Inode(*row[5:]), *row[:4], snapshot_enabled=bool(row[4]))
                       for row in db.execute(query, args)]
            if start_after is not None or limit is not None:
                return Status(inode, "", *self._counts(db, inode.id)), entries
            return Status(inode, "", len(entries), sum(e.inode.is_directory for e in entries)), entries

        return self.read(txn)

    def count_entries(self, path, after):
        def txn(db):
            inode = self._resolve(db, path)
            if inode.type != DIRECTORY:
                return 0
            query = "SELECT COUNT(*) FROM dirents WHERE parent = ? AND name > ?"
            return db.execute(query, (inode.id, after)).fetchone()[0]

        return self.read(txn)

    def content_summary(self, path, checker=None):
        def txn(db):
            entries = self._lister(db)
            self._check(db, checker, "GETCONTENTSUMMARY", path, children=entries)
            summary = ContentSummary()
            top = self._resolve(db, path)
            quotas = db.execute("SELECT names, space, disk FROM quotas WHERE inode = ?", (top.id,)).fetchone()
            if quotas is not None:
                summary.quota, summary.space_quota, summary.disk_quota = quotas
            stack, counted = [top], set()
            while stack:
                node = stack.pop()
                if node.id in counted:  # a file with several links inside counts once; a damaged cycle ends
                    continue
                counted.add(node.id)
                if node.type == DIRECTORY:
                    summary.directories += 1
                    stack.extend(child for _, child in entries(node))
                else:
                    summary.files += 1
                    summary.length += node.size
                    summary.space_consumed += node.size * node.replication
            return summary

        return self.read(txn)

    def walk_files(self, path="/"):
        """[(path, Inode, extents)] for every file at or below ``path``, in path order (fsck, repair)."""

        def txn(db):
            out, stack, seen = [], [(path, self._resolve(db, path))], set()
            while stack:
                p, node = stack.pop()
                if node.type == FILE:
                    out.append((p, node, self._extents(db, node.id)))
                    continue
                if node.id in seen:  # only a damaged namespace has a cycle: fsck reports it, and must finish
                    continue
                seen.add(node.id)
                stack.extend((p.rstrip("/") + "/" + name, child) for name, child in self._entries(db, node.id, "DESC"))
            return out

        return self.read(txn)

    def namespace_problems(self):
        return self.read(fsck.namespace_problems)

    def count_files(self):
        return self.read(lambda db: db.execute("SELECT COUNT(*) FROM inodes WHERE type = ?", (FILE,)).fetchone()[0])
