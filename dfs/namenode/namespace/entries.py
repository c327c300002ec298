"""Inodes, directory entries and extents made, linked and removed inside a transaction, and the mode rules of what
is made (setuid and setgid). Mixed into ``RelationalNamespace``."""

from collections import defaultdict

from dfs import paths
from dfs.errors import NotADirectory
from dfs.namenode import acls
from dfs.namenode.namespace.model import DIRECTORY, ROOT, Extent, Inode
from dfs.namenode.namespace.sql import SUBTREE, chunks, now_ms

# The setuid and setgid bits (dfs's extension: WebHDFS stops at 1777) are kept as POSIX file systems keep them; a
# directory's setgid bit gives its group to the entries made in it, and its setgid bit to new directories, whoever
# makes them (Linux). No host runs a program from the cluster setuid: the mount is always nosuid (docs/permissions.md).
SETUID, SETGID = 0o4000, 0o2000
# Linux's rule for a non-directory whose owner or group changes, or that a caller without the privilege to keep them
# (here: not a superuser) writes: setuid goes, and setgid when the group may execute (else it marks locking).
CLEAR_SETID = (f"CASE WHEN type = '{DIRECTORY}' THEN mode WHEN (mode & {0o010}) <> 0 THEN mode & {0o1777}"
               f" ELSE mode & {0o3777} END")


def in_parent(parent, group, mode, kind):
    """(group, mode) of a new entry of ``kind`` in the directory ``parent``: ``group`` asked for (None: the
    parent's, HDFS), or the parent's under its setgid bit."""
    if not parent.mode & SETGID:
        return group or parent.group, mode
    return parent.group, mode | SETGID if kind == DIRECTORY else mode


# The inodes of a deleted tree that go (SUBTREE walks entries alone, so it still works once they are gone): the
# directories, and what lost its last link (the UPDATE of _delete_tree ran first).
DOOMED = (f"{SUBTREE.rstrip()}, doomed(id) AS (SELECT s.id FROM subtree AS s JOIN inodes AS i ON i.id = s.id"
          f" WHERE i.type = '{DIRECTORY}' OR i.nlink <= 0) ")


class Entries:
    """The rows of inodes, entries and extents, changed inside a transaction the caller runs."""

    def _mkdirs(self, db, path, mode, owner, group, unmasked=None, walked=None):
        """Create ``path`` and its missing ancestors; return the directory's inode. With no ``group``, each new
        directory takes its parent's (HDFS); each inherits its parent's default ACL, ``path`` itself from its
        ``unmasked`` mode when the client sent one (dfs.namenode.acls.inherit). ``walked``: a ``_walk`` of ``path``
        or of a path below it that this transaction made; the directories it found are not read again."""
        names = paths.split(path)
        found = (walked or [self._inode(db, ROOT)])[:len(names) + 1]
        node = found[-1]
        if node.type != DIRECTORY:  # a walk ends at a file: the name after it cannot be made
            raise NotADirectory(f"Parent path is not a directory: /{'/'.join(names[:len(found) - 1])}")
        for depth in range(len(found), len(names) + 1):
            name = names[depth - 1]
            child = self._child(db, node.id, name)
            if child is None:
                t = now_ms()
                child_mode, acl = acls.inherit(node.acl, mode, unmasked if depth == len(names) else None, True)
                child_group, child_mode = in_parent(node, group, child_mode, DIRECTORY)
                child = self._new_inode(db, node.id, name, DIRECTORY, 0, child_mode, owner, child_group, t, t, acl=acl)
                self._touch(db, node.id)
            elif child.type != DIRECTORY:
                raise NotADirectory(f"Parent path is not a directory: /{'/'.join(names[:depth])}")
            node = child
        return node

    @staticmethod
    def _new_inode(db, parent_id, name, kind, size, mode, owner, group, mtime, atime, replication=0, block_size=0,
                   target=None, rdev=0, acl=None):
        """A new inode and the entry naming it."""
        changed = now_ms()  # now, even when the times given are a copy's
        inode_id = db.execute(
            "INSERT INTO inodes (type, size, mode, owner, grp, mtime, atime, replication, block_size, target, rdev,"
            " acl, ctime) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (kind, size, mode, owner, group, mtime, atime, replication, block_size, target, rdev, acl,
             changed)).fetchone()[0]
        db.execute("INSERT INTO dirents (parent, name, inode) VALUES (?, ?, ?)", (parent_id, name, inode_id))
        return Inode(inode_id, kind, mode, owner, group, mtime, atime, size, replication, block_size,
                     target=target, rdev=rdev, acl=acl, ctime=changed)

    @staticmethod
    def _add_name(db, parent_id, name, inode_id):
        """Another entry naming an existing inode (a hard link)."""
        db.execute("INSERT INTO dirents (parent, name, inode) VALUES (?, ?, ?)", (parent_id, name, inode_id))
        db.execute("UPDATE inodes SET nlink = nlink + 1 WHERE id = ?", (inode_id,))

    def _touch(self, db, inode_id):
        """Advance an inode's mtime, and its ctime with it; strictly, so every write is visible as a change."""
        t = now_ms()
        db.execute(f"UPDATE inodes SET mtime = {self.GREATEST}(?, mtime + 1),"
                   f" ctime = {self.GREATEST}(?, mtime + 1, ctime + 1) WHERE id = ?", (t, t, inode_id))

    @staticmethod
    def _written(db, inode_id, checker):
        """A file's content changed for ``checker``'s caller: unless a superuser (Linux: CAP_FSETID), that clears its
        setuid and setgid bits (CLEAR_SETID), so a setuid program changed by another does not keep running as its
        owner. Not an overwriting CREATE: from the mount it is the upload, at close, of writes the kernel cleared the
        bits for when they were made, and a chmod since (cp -p onto a file) must stay."""
        if checker is not None and not checker.unchecked:
            db.execute(f"UPDATE inodes SET mode = {CLEAR_SETID} WHERE id = ?", (inode_id,))

    def _changed(self, db, inode_id):
        """Advance an inode's ctime (strictly): its attributes or links changed."""
        db.execute(f"UPDATE inodes SET ctime = {self.GREATEST}(?, ctime + 1) WHERE id = ?", (now_ms(), inode_id))

    @staticmethod
    def _extents(db, inode_id):
        return [Extent._make(row) for row in db.execute(
            "SELECT e.block_id, e.block_offset, e.length, COALESCE(b.size, 0) FROM extents AS e"
            " LEFT JOIN blocks AS b ON b.id = e.block_id WHERE e.inode = ? ORDER BY e.seq", (inode_id,))]

    @staticmethod
    def _set_extents(db, inode_id, extents, start_seq=0):
        for seq, ext in enumerate(extents, start_seq):
            if ext.block_id is not None:
                db.execute("INSERT INTO blocks (id, size) VALUES (?, ?) ON CONFLICT DO NOTHING",
                           (ext.block_id, ext.block_size))
            db.execute("INSERT INTO extents (inode, seq, block_id, block_offset, length) VALUES (?, ?, ?, ?, ?)",
                       (inode_id, seq, ext.block_id, ext.block_offset, ext.length))

    @staticmethod
    def _next_seq(db, inode_id):
        return db.execute("SELECT COALESCE(MAX(seq) + 1, 0) FROM extents WHERE inode = ?", (inode_id,)).fetchone()[0]

    def _unlink(self, db, parent_id, name, inode):
        """Remove the entry ``name`` of ``parent_id``: a directory goes with everything below it; any other inode
        loses a link and goes with its last one (hard links keep it, its extents and so its blocks)."""
        db.execute("DELETE FROM dirents WHERE parent = ? AND name = ?", (parent_id, name))
        if inode.type == DIRECTORY:
            self._delete_tree(db, inode.id)
        else:
            self._drop_links(db, {inode.id: 1})

    def _delete_tree(self, db, inode_id):
        """Delete a directory and every entry below it, in seven statements whatever its size. What is not a
        directory loses the links found here, and goes when none is left: a hard link from outside the tree keeps it
        (with its extents, so its blocks)."""
        db.execute(f"{SUBTREE.rstrip()}, links(inode, n) AS (SELECT d.inode, COUNT(*) FROM dirents AS d"
                   " WHERE d.parent IN (SELECT id FROM subtree) GROUP BY d.inode)"
                   f" UPDATE inodes SET nlink = nlink - links.n, ctime = {self.GREATEST}(?, ctime + 1) FROM links"
                   f" WHERE inodes.id = links.inode AND inodes.type <> '{DIRECTORY}'", (inode_id, now_ms()))
        for table, column in (("extents", "inode"), ("xattrs", "inode"), ("quotas", "inode"),
                              ("snapshottable", "inode"), ("inodes", "id")):
            db.execute(f"{DOOMED} DELETE FROM {table} WHERE {column} IN (SELECT id FROM doomed)", (inode_id,))
        db.execute(f"{SUBTREE} DELETE FROM dirents WHERE parent IN (SELECT id FROM subtree)", (inode_id,))

    def _drop_links(self, db, links):
        """Take ``links`` ({inode id: entries removed}) off the link counts; delete the inodes left with none,
        with their extents (their blocks' GC grace starts then, not before)."""
        by_count = defaultdict(list)
        for inode_id, count in links.items():
            by_count[count].append(inode_id)
        for count, inode_ids in by_count.items():
            for chunk in chunks(inode_ids):
                among, ids = self._in(chunk)
                db.execute(f"UPDATE inodes SET nlink = nlink - ?, ctime = {self.GREATEST}(?, ctime + 1)"
                           f" WHERE id {among}", [count, now_ms(), *ids])
        for chunk in chunks(list(links)):
            among, ids = self._in(chunk)
            gone = [row[0] for row in db.execute(f"SELECT id FROM inodes WHERE nlink <= 0 AND id {among}", ids)]
            if gone:
                among, ids = self._in(gone)
                db.execute(f"DELETE FROM extents WHERE inode {among}", ids)
                db.execute(f"DELETE FROM xattrs WHERE inode {among}", ids)
                db.execute(f"DELETE FROM inodes WHERE id {among}", ids)
