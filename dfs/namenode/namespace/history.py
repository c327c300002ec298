"""The namespace as it was: reads at a past commit (under ``<dir>/.snapshot/<name>``, or at a moment), and HDFS's
snapshots, which name commits.

The tables hold the present; the history triggers (schema ``*_history.sql``) keep every replaced or removed row of
inodes, dirents, extents and xattrs with the commits it lived over, [born, died). The namespace at commit ``c`` is the
present rows born at or before ``c`` and the history rows alive at ``c``: a snapshot is a name for a commit, made in
O(1) whatever the size of its tree, and nothing is copied, blocks least of all. ``RelationalNamespace`` mixes in
``History``; nothing here is backend-specific but the SQL of the running commit (``CURRENT_COMMIT``).
"""

import time
from collections import namedtuple
from dataclasses import replace
from datetime import datetime, timezone

from dfs import paths
from dfs.errors import AlreadyExists, FileNotFound, IOFailure, NotADirectory, SnapshotException
from dfs.namenode import xattrs
from dfs.namenode.namespace.model import DIRECTORY, FILE, ROOT, ContentSummary, Extent, Inode, Snapshot, Status
from dfs.paths import SNAPSHOT

PRESENT = 2 ** 62  # a commit after every one: the namespace at it is the present
INODE_COLUMNS = ("id, type, mode, owner, grp, mtime, atime, size, replication, block_size, nlink, target, rdev, acl,"
                 " ctime")
MAX_DEPTH = 10_000  # bounds a walk up the tree, should entries loop
BATCH = 256  # inodes read by one query of a past listing
# A history row whose blocks must stay: alive in the retention window (its death after the window's first commit,
# the parameter) or at some snapshot's commit. Any snapshot's, whatever its directory: a row outside the snapshot's
# tree is kept until that snapshot is deleted, which costs space, never a block still needed.
SNAPSHOT_HOLDS = "EXISTS (SELECT 1 FROM snapshots AS s WHERE s.commit_number >= h.born AND s.commit_number < h.died)"
# A kept backup holds the rows alive at some commit of its holds' [since, upto] (``Backups``, dfs.namenode.backup),
# whatever the retention window says: a restored backup finds every block it names.
BACKUP_HOLDS = "EXISTS (SELECT 1 FROM backup_holds AS k WHERE k.since < h.died AND k.upto >= h.born)"
KEPT = f"({SNAPSHOT_HOLDS} OR {BACKUP_HOLDS})"  # beyond the window
HELD = f"(h.died > ? OR {KEPT})"
HOLDERS = ("history", "backups", "snapshots")  # what holds a block no file names, by precedence (history_usage)
# One line of a snapshot diff: ``type`` CREATE, DELETE, MODIFY or RENAME of the inode ``inode`` at ``path`` (a
# RENAME's new path: ``target``); ``parent`` the directory holding it (the older one's for DELETE and RENAME; a
# MODIFY of a directory: the directory itself), ``new_parent`` a RENAME's in the newer one.
Change = namedtuple("Change", "type path target inode parent new_parent", defaults=(None,))
# One entry of HDFS's paged diff (GETSNAPSHOTDIFFLISTING): in its ``kind`` list ("modify", "create", "delete"); a
# renamed inode is in both the delete list (with ``target``) and the create list, as a ``reference``.
ListingEntry = namedtuple("ListingEntry", "kind dir_id file_id source target reference")


def visible(table, columns, key):
    """SQL of ``table``'s rows meeting ``key`` as they were at a commit. Parameters: ``key``'s, the commit, ``key``'s,
    the commit, the commit."""
    return (f"SELECT {columns} FROM {table} WHERE {key} AND born <= ? UNION ALL"
            f" SELECT {columns} FROM {table}_history WHERE {key} AND born <= ? AND died > ?")


def default_name(ms):
    """HDFS's name for a snapshot created without one: ``s`` and the time, ``yyyyMMdd-HHmmss.SSS`` (UTC here)."""
    moment = datetime.fromtimestamp(ms / 1000, timezone.utc)
    return moment.strftime("s%Y%m%d-%H%M%S.") + f"{ms % 1000:03d}"


def snapshot_path(directory, name):
    return paths.join(paths.join(directory, SNAPSHOT), name)


def check_snapshot_name(name):
    if not name or "/" in name or name in (".", "..", SNAPSHOT):
        raise SnapshotException(f'Invalid snapshot name: "{name}"')
    return name


class Past:
    """Reads of the namespace at ``commit``, inside a transaction."""

    def __init__(self, db, commit):
        self.db, self.commit = db, commit

    def _rows(self, table, columns, key, params, suffix=""):
        c = self.commit
        return self.db.execute(f"SELECT * FROM ({visible(table, columns, key)}) AS v{suffix}",
                               (*params, c, *params, c, c))

    def inode(self, inode_id):
        row = self._rows("inodes", INODE_COLUMNS, "id = ?", (inode_id,)).fetchone()
        return None if row is None else Inode(*row)

    def inodes(self, ids):
        """{id: Inode} of ``ids``: a query per BATCH of them, not one per inode (each costs a round trip and a plan
        on PostgreSQL)."""
        found = {}
        for start in range(0, len(ids), BATCH):
            batch = ids[start:start + BATCH]
            rows = self._rows("inodes", INODE_COLUMNS, f"id IN ({','.join('?' * len(batch))})", batch)
            found.update((row[0], Inode(*row)) for row in rows)
        return found

    def child(self, parent_id, name):
        row = self._rows("dirents", "inode", "parent = ? AND name = ?", (parent_id, name)).fetchone()
        return None if row is None else self.inode(row[0])

    def entries(self, inode):
        """[(name, Inode)] of the directory ``inode``, by name (none for anything else)."""
        if inode.type != DIRECTORY:
            return []
        rows = self._rows("dirents", "name, inode", "parent = ?", (inode.id,), " ORDER BY name").fetchall()
        found = self.inodes([inode_id for _, inode_id in rows])
        return [(name, found[inode_id]) for name, inode_id in rows]

    def status(self, inode, name=""):
        if inode.type != DIRECTORY:
            return Status(inode, name)
        entries = self.entries(inode)
        return Status(inode, name, len(entries), sum(child.is_directory for _, child in entries))

    def extents(self, inode_id):
        c = self.commit
        return [Extent._make(row) for row in self.db.execute(
            "SELECT e.block_id, e.block_offset, e.length, COALESCE(b.size, 0) FROM"
            f" ({visible('extents', 'seq, block_id, block_offset, length', 'inode = ?')}) AS e"
            " LEFT JOIN blocks AS b ON b.id = e.block_id ORDER BY e.seq", (inode_id, c, inode_id, c, c))]

    def xattrs(self, inode_id):
        """[(name, value)] of the inode's extended attributes."""
        return self._rows("xattrs", "name, value", "inode = ?", (inode_id,)).fetchall()

    def tree(self, top):
        """A Tree of ``top`` (at "") and everything below it (an inode with several names: the first found)."""
        found, pending = Tree(), [("", top)]
        found[top.id], found.ids[""] = ("", top), top.id
        while pending:
            path, node = pending.pop()
            for name, child in self.entries(node):
                if child.id not in found:
                    where = f"{path}/{name}".lstrip("/")
                    found[child.id] = (where, child)
                    found.ids[where] = child.id
                    pending.append((where, child))
        return found


class Tree(dict):
    """{inode id: (path relative to the top, Inode)}, and ``ids``: {relative path: inode id}."""

    def __init__(self):
        super().__init__()
        self.ids = {}


class History:
    """Past reads and snapshots, mixed into ``RelationalNamespace`` (whose runner, walk and checks they use)."""

    CURRENT_COMMIT = "(SELECT MAX(number) FROM commits)"  # SQL: the running write transaction's commit
    history_retention = 0.0  # seconds of history kept for ``at`` reads (the namenode's --history-retention)

    def _begin_commit(self, db):
        """Number the write transaction about to run (the triggers stamp its changes with the number)."""
        db.execute("INSERT INTO commits (at) VALUES (?)", (time.time(),))

    def _kept_since(self, db):
        """The moment (seconds) history reaches back to: the retention window's start, or a later purge's."""
        row = db.execute("SELECT value FROM meta WHERE key = 'history_purged_before'").fetchone()
        return max(time.time() - self.history_retention, float(row[0]) if row else 0.0)

    def _window_start(self, db):
        """The commit in effect when the kept history begins: history that died after it stays readable."""
        return db.execute("SELECT COALESCE(MAX(number), 0) FROM commits WHERE at <= ?",
                          (self._kept_since(db),)).fetchone()[0]

    def _held_history_blocks(self, db, among="IS NOT NULL", ids=()):
        """{block id: size} of the blocks history rows keep (``among``: a test of the block id, with ``ids``)."""
        return dict(db.execute(f"SELECT DISTINCT h.block_id, b.size FROM extents_history AS h JOIN blocks AS b"
                               f" ON b.id = h.block_id WHERE h.block_id {among} AND {HELD}",
                               [*ids, self._window_start(db)]))

    def trim_history(self):
        """Drop the history rows no read can see any more (dead when the retention window began, alive at no
        snapshot's commit) and the commit times before the window; the number of rows dropped."""
        return self.run(self._trim)

    def purge_history(self, before_ms):
        """Drop the history before ``before_ms`` at once (`dfs admin purge`): reads of the past before it are
        refused from now on, and GC may take the blocks only it held. Snapshots keep theirs. Rows dropped."""

        def txn(db):
            db.execute("INSERT INTO meta (key, value) VALUES ('history_purged_before', ?) ON CONFLICT (key)"
                       " DO UPDATE SET value = excluded.value", (repr(before_ms / 1000),))
            return self._trim(db)

        return self.run(txn)

    def history_usage(self):
        """{"snapshots": bytes, "backups": bytes, "history": bytes} of the blocks no file names now that snapshots
        hold, that kept backups hold (and no snapshot), and that only the retention window holds (each block once,
        one replica)."""

        def txn(db):
            held = db.execute(
                f"SELECT h.block_id, b.size, MAX(CASE WHEN {SNAPSHOT_HOLDS} THEN 2 WHEN {BACKUP_HOLDS} THEN 1 ELSE 0"
                " END) FROM extents_history AS h JOIN blocks AS b ON b.id = h.block_id"
                f" WHERE {HELD} AND NOT EXISTS (SELECT 1 FROM extents AS e WHERE e.block_id = h.block_id)"
                " GROUP BY h.block_id, b.size", (self._window_start(db),)).fetchall()
            usage = dict.fromkeys(HOLDERS, 0)
            for _, size, holder in held:
                usage[HOLDERS[holder]] += size
            return usage

        return self.read(txn)

    def hold_for_backup(self, name):
        """Hold, for the backup ``name`` about to be taken, every row alive from this commit on: whatever commit the
        copy ends up at, what it names stays until ``set_backup_holds`` narrows the hold."""
        return self.run(lambda db: db.execute(f"INSERT INTO backup_holds (backup, since, upto)"
                                              f" SELECT ?, {self.CURRENT_COMMIT}, ?", (name, PRESENT)))

    def set_backup_holds(self, holds):
        """Make ``holds`` ({backup name: [(since, upto)]}) the holds of those backups, replacing theirs."""

        def txn(db):
            for name, spans in holds.items():
                db.execute("DELETE FROM backup_holds WHERE backup = ?", (name,))
                for since, upto in spans:
                    db.execute("INSERT INTO backup_holds (backup, since, upto) VALUES (?, ?, ?)", (name, since, upto))

        return self.run(txn)

    def release_backups(self, names):
        """Drop the holds of the backups ``names`` (removed, or never finished): GC may take what only they held."""

        def txn(db):
            for name in names:
                db.execute("DELETE FROM backup_holds WHERE backup = ?", (name,))

        return self.run(txn)

    def backup_holds(self):
        """{backup name: [(since, upto)]} of every hold."""

        def txn(db):
            holds = {}
            for name, since, upto in db.execute("SELECT backup, since, upto FROM backup_holds ORDER BY backup, since"):
                holds.setdefault(name, []).append((since, upto))
            return holds

        return self.read(txn)

    def _trim(self, db):
        start, removed = self._window_start(db), 0
        for table in ("inodes_history", "dirents_history", "extents_history", "xattrs_history"):
            removed += db.execute(f"DELETE FROM {table} AS h WHERE h.died <= ? AND NOT {KEPT}",
                                  (start,)).rowcount
        db.execute("DELETE FROM commits WHERE number < ?", (start,))
        return removed

    # -- resolving a past path ----------------------------------------------------------------

    def _commit_at(self, db, at_ms):
        """The last commit at or before ``at_ms``, which must be inside the kept history."""
        if at_ms / 1000 < self._kept_since(db):
            kept = f"the last {self.history_retention:g} seconds" if self.history_retention else "no history"
            raise IOFailure(f"No history at {at_ms}: the namenode keeps {kept} (--history-retention), and none"
                            " from before a purge (dfs admin purge)")
        return db.execute("SELECT COALESCE(MAX(number), 0) FROM commits WHERE at <= ?", (at_ms / 1000,)).fetchone()[0]

    def _snapshot(self, db, directory_id, name, path):
        row = db.execute("SELECT commit_number FROM snapshots WHERE directory = ? AND name = ?",
                         (directory_id, name)).fetchone()
        if row is None:
            raise FileNotFound(f"File does not exist: {path}")
        return row[0]

    def _past(self, db, path, at=None):
        """(the path as permission checks name it, [Inode along it from the root], Past) of ``path`` under a
        snapshot (``<dir>/.snapshot/<name>/...``: the directory now, what is below it at the snapshot's commit), or
        else at the moment ``at`` (ms). A missing name raises FileNotFound, a file on the way NotADirectory."""
        names = paths.split(path)
        if SNAPSHOT in names:
            split = names.index(SNAPSHOT)
            logical = "/" + "/".join(names[:split])
            chain = self._path(db, logical)
            if len(names) == split + 1:
                raise FileNotFound(f"File does not exist: {path}")
            past = Past(db, self._snapshot(db, chain[-1].id, names[split + 1], path))
            chain[-1] = past.inode(chain[-1].id)
            rest = names[split + 2:]
        else:
            past = Past(db, self._commit_at(db, at))
            logical, chain, rest = "/", [past.inode(ROOT)], names
        for name in rest:
            if chain[-1].type != DIRECTORY:
                raise NotADirectory(f"Parent path is not a directory: {logical}")
            logical = paths.join(logical, name)
            node = past.child(chain[-1].id, name)
            if node is None:
                raise FileNotFound(f"File does not exist: {path}")
            chain.append(node)
        return logical, chain, past

    def _snapshot_directory(self, db, checker, op, path):
        """For ``<dir>/.snapshot`` itself, which lists the snapshots of ``<dir>``: (``<dir>``'s Inode now, its
        Snapshots), after ``op``'s checks of ``<dir>``; None for any other path."""
        names = paths.split(path)
        if not names or names[-1] != SNAPSHOT or names.count(SNAPSHOT) != 1:
            return None
        directory = paths.parent(path)
        self._check(db, checker, op, directory)
        inode = self._resolve(db, directory)
        if db.execute("SELECT 1 FROM snapshottable WHERE inode = ?", (inode.id,)).fetchone() is None:
            raise FileNotFound(f"File does not exist: {path}")
        return inode, self._snapshot_list(db, inode, directory)

    def _past_checked(self, db, checker, op, path, at):
        """``_past``, then ``checker``'s checks of ``op`` on the path as it was then, for the caller as they are."""
        logical, chain, past = self._past(db, path, at)
        if checker is not None and not checker.unchecked:
            checker.check_operation(op, logical, chain, children=past.entries)
        return chain[-1], past

    # -- past reads (the interface's, with ``at``) ----------------------------------------------

    def past_stat(self, path, at=None, checker=None):
        def txn(db):
            inode, past = self._past_checked(db, checker, "OPEN", path, at)
            return inode, past.extents(inode.id) if inode.type == FILE else []

        return self.read(txn)

    def past_status(self, path, at=None, checker=None):
        def txn(db):
            found = self._snapshot_directory(db, checker, "GETFILESTATUS", path)
            if found is not None:
                inode, snapshots = found
                return Status(inode, "", len(snapshots), len(snapshots))
            inode, past = self._past_checked(db, checker, "GETFILESTATUS", path, at)
            return past.status(inode)

        return self.read(txn)

    def past_listing(self, path, at=None, checker=None):
        def txn(db):
            found = self._snapshot_directory(db, checker, "LISTSTATUS", path)
            if found is not None:
                inode, snapshots = found
                return Status(inode, "", len(snapshots), len(snapshots)), [s.status for s in snapshots]
            inode, past = self._past_checked(db, checker, "LISTSTATUS", path, at)
            if inode.type != DIRECTORY:
                return Status(inode), None
            entries = [past.status(child, name) for name, child in past.entries(inode)]
            return Status(inode, "", len(entries), sum(e.inode.is_directory for e in entries)), entries

        return self.read(txn)

    def past_xattrs(self, path, at=None, checker=None, op="GETXATTRS"):
        def txn(db):
            inode, past = self._past_checked(db, checker, op, path, at)
            return xattrs.shown(past.xattrs(inode.id), checker)

        return self.read(txn)

    def past_content_summary(self, path, at=None, checker=None):
        def txn(db):
            top, past = self._past_checked(db, checker, "GETCONTENTSUMMARY", path, at)
            summary = ContentSummary()
            for _, node in past.tree(top).values():
                summary.directories += node.type == DIRECTORY
                if node.type == FILE:
                    summary.files += 1
                    summary.length += node.size
                    summary.space_consumed += node.size * node.replication
            return summary

        return self.read(txn)

    def restore(self, path, at, destination=None, checker=None):
        """Bring ``path`` back as it was at ``at`` (ms; or under a snapshot) to ``destination`` (default: where it
        was): its tree made again with the same modes, owners and times, each file naming the blocks it named
        then (no block copied). A file there now is given the old content and attributes (its inode, so its hard
        links, stay); a directory there is refused. The destination's missing parents are made."""
        target = destination or path

        def txn(db):
            logical, chain, past = self._past(db, path, at)
            node = chain[-1]
            existing = self._lookup(db, target) if self._walk_reaches_parent(db, target) else None
            replacing = existing is not None and existing.type == FILE and node.type == FILE
            if checker is not None and not checker.unchecked:
                checker.check_operation("RESTORE", logical, chain, destination=(target, self._walk(db, target)),
                                        overwrite=replacing, children=past.entries)
            if existing is not None and not replacing:
                raise AlreadyExists(f"{target} exists: restore it elsewhere (--to DEST)")
            if replacing:
                self._restore_file(db, past, node, existing.id)
                added_names, added_space = 0, (node.size - existing.size) * node.replication
            else:
                parent = self._mkdirs(db, paths.parent(target), 0o755, node.owner, None)
                added_names, added_space = self._copy_past(db, past, node, parent.id, paths.basename(target))
                self._touch(db, parent.id)
            self._enforce_quotas(db, target, added_names, added_space)
            return self._resolve(db, target)

        return self._change("RESTORE", checker, txn)

    def _walk_reaches_parent(self, db, path):
        """Whether every directory above ``path`` exists now (else ``restore`` makes them)."""
        return len(self._walk(db, paths.parent(path))) == len(paths.split(paths.parent(path))) + 1

    def _restore_file(self, db, past, node, inode_id):
        db.execute("DELETE FROM extents WHERE inode = ?", (inode_id,))
        db.execute("UPDATE inodes SET size = ?, mode = ?, owner = ?, grp = ?, mtime = ?, atime = ?, replication = ?,"
                   " block_size = ?, acl = ? WHERE id = ?", (node.size, node.mode, node.owner, node.group, node.mtime,
                                                             node.atime, node.replication, node.block_size, node.acl,
                                                             inode_id))
        self._set_extents(db, inode_id, past.extents(node.id))
        self._restore_xattrs(db, past, node.id, inode_id)

    @staticmethod
    def _restore_xattrs(db, past, node_id, inode_id):
        """Give ``inode_id`` the extended attributes that ``node_id`` had in ``past``, and only those."""
        db.execute("DELETE FROM xattrs WHERE inode = ?", (inode_id,))
        for name, value in past.xattrs(node_id):
            db.execute("INSERT INTO xattrs (inode, name, value) VALUES (?, ?, ?)", (inode_id, name, value))

    def _copy_past(self, db, past, top, parent_id, name):
        """Make ``top`` (a past Inode) and everything below it then as ``name`` in ``parent_id``; (names, bytes
        with replicas) made, for the quotas. Names that shared an inode then share a new one (hard links stay
        links). A loop: paths may be deep."""
        pending, made, names, space = [(top, parent_id, name)], {}, 0, 0
        while pending:
            node, parent_id, name = pending.pop()
            names += 1
            space += node.size * node.replication if node.type == FILE else 0
            if node.id in made:
                self._add_name(db, parent_id, name, made[node.id])
                continue
            new = self._new_inode(db, parent_id, name, node.type, node.size, node.mode, node.owner, node.group,
                                  node.mtime, node.atime, node.replication, node.block_size, node.target, node.rdev,
                                  node.acl)
            made[node.id] = new.id
            self._restore_xattrs(db, past, node.id, new.id)
            if node.type == FILE:
                self._set_extents(db, new.id, past.extents(node.id))
            elif node.type == DIRECTORY:
                pending.extend((child, new.id, child_name) for child_name, child in past.entries(node))
        return names, space

    # -- snapshots --------------------------------------------------------------------------------

    def _snapshottable(self, db, checker, op, path, superuser=False):
        """The directory ``path`` after ``op``'s checks (``superuser``: the superuser's alone, as in HDFS)."""
        self._check(db, checker, op, path)
        if superuser and checker is not None:
            checker.check_superuser()
        inode = self._resolve(db, path)
        if inode.type != DIRECTORY:
            raise SnapshotException(f"Directory is not a snapshottable directory: {path}")
        return inode

    def _snapshot_root(self, db, checker, op, path):
        inode = self._snapshottable(db, checker, op, path)
        if db.execute("SELECT 1 FROM snapshottable WHERE inode = ?", (inode.id,)).fetchone() is None:
            raise SnapshotException(f"Directory is not a snapshottable directory: {path}")
        return inode

    def allow_snapshot(self, path, checker=None):
        def txn(db):
            inode = self._snapshottable(db, checker, "ALLOWSNAPSHOT", path, superuser=True)
            self._refuse_nesting(db, inode, path)
            db.execute("INSERT INTO snapshottable (inode) VALUES (?) ON CONFLICT DO NOTHING", (inode.id,))

        return self._change("ALLOWSNAPSHOT", checker, txn)

    def _refuse_nesting(self, db, inode, path):
        """HDFS refuses a snapshottable directory above or below another one (its texts)."""
        for (other,) in db.execute("SELECT inode FROM snapshottable WHERE inode != ? ORDER BY inode",
                                   (inode.id,)).fetchall():
            other_path = self._path_of(db, other)
            for relation, above, below in (("subdirectory", path, other_path), ("ancestor", other_path, path)):
                if paths.is_ancestor(above, below):
                    raise SnapshotException(f"Nested snapshottable directories not allowed: path={path}, the"
                                            f" {relation} {other_path} is already a snapshottable directory.")

    def disallow_snapshot(self, path, checker=None):
        def txn(db):
            inode = self._snapshottable(db, checker, "DISALLOWSNAPSHOT", path, superuser=True)
            if db.execute("SELECT 1 FROM snapshots WHERE directory = ?", (inode.id,)).fetchone():
                raise SnapshotException(f"The directory {path} has snapshot(s). Please redo the operation after"
                                        " removing all the snapshots.")
            db.execute("DELETE FROM snapshottable WHERE inode = ?", (inode.id,))

        return self._change("DISALLOWSNAPSHOT", checker, txn)

    def create_snapshot(self, path, name=None, checker=None):
        def txn(db):
            inode = self._snapshot_root(db, checker, "CREATESNAPSHOT", path)
            created = int(time.time() * 1000)
            snapshot = check_snapshot_name(name or default_name(created))
            if self._has_snapshot(db, inode, snapshot):
                raise SnapshotException(f'Failed to create snapshot: there is already a snapshot with the same'
                                        f' name "{snapshot}".')
            db.execute("INSERT INTO snapshots (directory, name, commit_number, created)"
                       f" VALUES (?, ?, {self.CURRENT_COMMIT}, ?)", (inode.id, snapshot, created))
            return snapshot_path(path, snapshot)

        return self._change("CREATESNAPSHOT", checker, txn)

    @staticmethod
    def _has_snapshot(db, inode, name):
        return db.execute("SELECT 1 FROM snapshots WHERE directory = ? AND name = ?",
                          (inode.id, name)).fetchone() is not None

    def delete_snapshot(self, path, name, checker=None):
        def txn(db):
            inode = self._snapshot_root(db, checker, "DELETESNAPSHOT", path)
            if not db.execute("DELETE FROM snapshots WHERE directory = ? AND name = ?", (inode.id, name)).rowcount:
                raise SnapshotException(f"Cannot delete snapshot {name} from path {path}: the snapshot does not"
                                        " exist.")

        return self._change("DELETESNAPSHOT", checker, txn)

    def rename_snapshot(self, path, old, new, checker=None):
        def txn(db):
            inode = self._snapshot_root(db, checker, "RENAMESNAPSHOT", path)
            if not self._has_snapshot(db, inode, old):
                raise SnapshotException(f"The snapshot {old} does not exist for directory {path}")
            if self._has_snapshot(db, inode, check_snapshot_name(new)):
                raise SnapshotException(f"The snapshot {new} already exists for directory {path}")
            db.execute("UPDATE snapshots SET name = ? WHERE directory = ? AND name = ?", (new, inode.id, old))

        return self._change("RENAMESNAPSHOT", checker, txn)

    def snapshots(self, path, checker=None):
        """[Snapshot] of the snapshottable directory ``path``, oldest first."""

        def txn(db):
            return self._snapshot_list(db, self._snapshot_root(db, checker, "GETSNAPSHOTLIST", path), path)

        return self.read(txn)

    @staticmethod
    def _snapshot_list(db, inode, path):
        found = []
        for number, name, commit, created in db.execute(
                "SELECT id, name, commit_number, created FROM snapshots WHERE directory = ? ORDER BY id",
                (inode.id,)).fetchall():
            root = Past(db, commit).inode(inode.id)
            root.mtime = created  # HDFS shows a snapshot's root with the snapshot's time
            found.append(Snapshot(number, name, snapshot_path(path, name), Status(root, name)))
        return found

    def snapshottable_directories(self, checker=None):
        """[(path, Status, snapshots)] of the snapshottable directories (a caller not a superuser: those they own)."""

        def txn(db):
            found = []
            for inode_id, count in db.execute(
                    "SELECT t.inode, (SELECT COUNT(*) FROM snapshots AS s WHERE s.directory = t.inode)"
                    " FROM snapshottable AS t ORDER BY t.inode").fetchall():
                inode = self._inode(db, inode_id)
                if checker is None or checker.unchecked or inode.owner == checker.caller.user:
                    found.append((self._path_of(db, inode_id), Status(inode), count))
            return sorted(found, key=lambda item: item[0])

        return self.read(txn)

    def snapshot_diff(self, path, old, new, checker=None):
        """HDFS's snapshot diff of the directory ``path`` from snapshot ``old`` to ``new`` (either "" or None: the
        present): [(type, path, target)], paths relative to ``path``, ``type`` CREATE, DELETE, MODIFY or RENAME
        (``target`` its new path; else None). A created or deleted tree is reported by its top alone."""

        def txn(db):
            return [change[:3] for change in self._diff(db, checker, "GETSNAPSHOTDIFF", path, old, new)]

        return self.read(txn)

    snapshot_diff_listing_limit = 1000  # entries per page of GETSNAPSHOTDIFFLISTING (HDFS's default)

    def snapshot_diff_listing(self, path, old, new, start=0, checker=None):
        """One page of the diff (HDFS's paged form, whose client rebuilds ``snapshot_diff``'s report from it): the
        [ListingEntry] from the ``start``-th on, at most ``snapshot_diff_listing_limit``, and the next page's
        start (None after the last). The diff is the same on each call between two snapshots, which never change."""

        def txn(db):
            entries = [entry for change in self._diff(db, checker, "GETSNAPSHOTDIFFLISTING", path, old, new)
                       for entry in _listing_entries(change)]
            end = start + self.snapshot_diff_listing_limit
            return entries[start:end], end if end < len(entries) else None

        return self.read(txn)

    def _diff(self, db, checker, op, path, old, new):
        """[Change] from ``old`` to ``new``, in HDFS's order (``_report_order``). Every directory whose entries
        changed is a MODIFY, as in HDFS (whose paged client looks for created and deleted entries under such MODIFYs
        only)."""
        inode = self._snapshot_root(db, checker, op, path)
        before = Past(db, self._snapshot(db, inode.id, old, path) if old else PRESENT)
        after = Past(db, self._snapshot(db, inode.id, new, path) if new else PRESENT)
        was, now = before.tree(before.inode(inode.id)), after.tree(after.inode(inode.id))
        changes, modified, attributed = [], {}, _xattrs_changed(db, before.commit, after.commit)
        for inode_id, (where, node) in sorted(now.items(), key=lambda item: item[1][0]):
            if inode_id not in was:
                if _parent(now, where) in was:  # the top of a created tree
                    changes.append(Change("CREATE", where, None, inode_id, _parent(now, where)))
                continue
            old_where, old_node = was[inode_id]
            if old_where != where:
                changes.append(Change("RENAME", old_where, where, inode_id, _parent(was, old_where),
                                      _parent(now, where)))
            if replace(old_node, ctime=0) != replace(node, ctime=0) or inode_id in attributed:
                modified[inode_id] = where  # (not for the ctime alone, which a rename moves)
        changes.extend(Change("DELETE", where, None, inode_id, _parent(was, where))
                       for inode_id, (where, _) in sorted(was.items(), key=lambda i: i[1][0])
                       if inode_id not in now and _parent(was, where) in now)
        for change in changes:  # directories whose entries changed (one deleted since: not there to modify)
            for directory in (change.parent, change.new_parent):
                if directory in now and directory in was:
                    modified.setdefault(directory, now[directory][0])
        changes.extend(Change("MODIFY", where, None, inode_id,
                              inode_id if now[inode_id][1].is_directory else _parent(now, where))
                       for inode_id, where in modified.items())
        return sorted(changes, key=_report_order)

    # -- what snapshots forbid ------------------------------------------------------------------

    def _path_of(self, db, inode_id):
        """A path of ``inode_id`` now (through its first entry at each level)."""
        names = []
        for _ in range(MAX_DEPTH):
            if inode_id == ROOT:
                return "/" + "/".join(reversed(names))
            row = db.execute("SELECT parent, name FROM dirents WHERE inode = ? ORDER BY parent, name LIMIT 1",
                             (inode_id,)).fetchone()
            if row is None:
                break
            inode_id, name = row
            names.append(name)
        raise FileNotFound(f"inode {inode_id} has no path")

    def _keep_snapshot_roots(self, db, inode, path):
        """HDFS refuses to delete or move a directory that is, or holds, a directory with snapshots."""
        if inode.type != DIRECTORY:
            return
        for (root,) in db.execute("SELECT DISTINCT directory FROM snapshots").fetchall():
            root_path = self._path_of(db, root)
            if paths.is_ancestor(path, root_path):
                raise SnapshotException(f"The directory {path} cannot be deleted since {root_path} is snapshottable"
                                        " and already has snapshots")


def _xattrs_changed(db, first, second):
    """The ids of the inodes an extended attribute of which was set or removed between two commits."""
    low, high = sorted((first, second))
    return {inode_id for (inode_id,) in db.execute(
        "SELECT inode FROM xattrs WHERE born > ? AND born <= ? UNION SELECT inode FROM xattrs_history"
        " WHERE died > ? AND died <= ? OR born > ? AND born <= ?", (low, high, low, high, low, high))}


def _report_order(change):
    """HDFS's order: by path in the newer tree, a directory's MODIFY before what changed in it, a rename before
    its MODIFY; then the deletions, by path."""
    if change.type == "DELETE":
        return 1, change.path, 0
    return 0, change.target or change.path, change.type == "MODIFY"


def _listing_entries(change):
    """The ListingEntry(s) of a Change."""
    if change.type == "RENAME":
        return [ListingEntry("delete", change.parent, change.inode, change.path, change.target, True),
                ListingEntry("create", change.new_parent, change.inode, change.target, None, True)]
    directory = change.parent == change.inode  # a MODIFY of a directory, whose entries the client looks up
    return [ListingEntry(change.type.lower(), change.parent, change.inode, change.path, None, directory)]


def _parent(tree, where):
    """The inode id of the directory holding ``where`` in ``tree`` (a ``Past.tree``)."""
    return tree.ids[where.rpartition("/")[0]]
