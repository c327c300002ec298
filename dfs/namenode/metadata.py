"""The namespace in SQLite: inodes, extents and blocks. The single source of truth for what a path contains.

Every public method runs one transaction. Changes run on the store's one writer thread, so SQLite sees one writer
and the reactor never waits for an fsync; scans run on reader threads; lookups of one path run on the reactor,
where they cost less than the hop to a thread would. Nothing is visible, or acknowledged, before its transaction
commits.
"""

import os
import sqlite3
import threading
import time
import uuid

from twisted.internet.defer import Deferred, fail, maybeDeferred, succeed
from twisted.internet.threads import deferToThreadPool
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

from dfs import paths
from dfs.errors import (
    AlreadyExists,
    BadRequest,
    CannotMove,
    DirectoryNotEmpty,
    FileNotFound,
    IOFailure,
    IsADirectory,
    NoSpace,
    NotADirectory,
)

ROOT = 1
READERS = 4
MAX_BATCH = 256
FILE, DIRECTORY = "FILE", "DIRECTORY"
# The number of entries of the directory ``i``: WebHDFS's childrenNum.
CHILD_COUNT = "(SELECT COUNT(*) FROM inodes AS c WHERE c.parent = i.id)"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS inodes (
    id INTEGER PRIMARY KEY,
    parent INTEGER NOT NULL,
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    size INTEGER NOT NULL DEFAULT 0,
    mode INTEGER NOT NULL,
    owner TEXT NOT NULL,
    grp TEXT NOT NULL,
    mtime INTEGER NOT NULL,
    atime INTEGER NOT NULL,
    replication INTEGER NOT NULL DEFAULT 0,
    block_size INTEGER NOT NULL DEFAULT 0,
    UNIQUE (parent, name)
);
CREATE TABLE IF NOT EXISTS blocks (id TEXT PRIMARY KEY, size INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS extents (
    inode INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    block_id TEXT NOT NULL REFERENCES blocks(id),
    block_offset INTEGER NOT NULL,
    length INTEGER NOT NULL,
    PRIMARY KEY (inode, seq)
);
CREATE INDEX IF NOT EXISTS extents_by_block ON extents (block_id);
CREATE TABLE IF NOT EXISTS pins (
    block_id TEXT NOT NULL,
    owner TEXT NOT NULL,
    expires REAL NOT NULL,
    PRIMARY KEY (block_id, owner)
);
CREATE INDEX IF NOT EXISTS pins_by_owner ON pins (owner);
-- Every datanode that ever registered: after a restart, safe mode waits for their block reports.
CREATE TABLE IF NOT EXISTS datanodes (id TEXT PRIMARY KEY, url TEXT NOT NULL);
"""

# GC counts a block's grace from the moment its last reference went, whichever change removed it, so the stamp
# is kept by triggers rather than by each namespace change. gc_now() is the store's clock (see Store.open).
REFERENCE_TRIGGERS = (
    "CREATE TRIGGER IF NOT EXISTS block_referenced AFTER INSERT ON extents BEGIN"
    " UPDATE blocks SET unreferenced_since = NULL WHERE id = NEW.block_id AND unreferenced_since IS NOT NULL; END",
    "CREATE TRIGGER IF NOT EXISTS block_unreferenced AFTER DELETE ON extents"
    " WHEN NOT EXISTS (SELECT 1 FROM extents WHERE block_id = OLD.block_id) BEGIN"
    " UPDATE blocks SET unreferenced_since = gc_now() WHERE id = OLD.block_id; END",
)


def _ignore(*args):
    pass


def now_ms():
    return int(time.time() * 1000)


class Extent(tuple):
    """(block_id, block_offset, length, block_size): a run of bytes inside one immutable block."""

    __slots__ = ()

    def __new__(cls, block_id, block_offset, length, block_size):
        return tuple.__new__(cls, (block_id, block_offset, length, block_size))

    block_id = property(lambda self: self[0])
    block_offset = property(lambda self: self[1])
    length = property(lambda self: self[2])
    block_size = property(lambda self: self[3])


class Store:
    """The namespace database. ``run`` decides where transactions execute (a one-thread pool by default)."""

    def __init__(self, db_path, reactor=None, defaults=None, clock=None):
        self.db_path = db_path
        self.clock = clock or reactor  # stamps when blocks become unreferenced; wall time without either
        self.defaults = {"replication": 3, "block_size": 64 * 1024 * 1024, "owner": "dfs", "group": "supergroup"}
        self.defaults.update(defaults or {})
        self._db = None
        self._pool = None
        self._readers = None
        self._local = threading.local()
        self._lookup_db = None
        self._queue = []
        self._committing = False
        self._reactor = reactor
        self.cluster_id = None
        self.observe_transaction = _ignore  # gets each committed transaction's duration in seconds (metrics)

    # -- running transactions ------------------------------------------------------------------

    def open(self):
        """Open the database and create what is missing; learns ``cluster_id``. Safe to call twice."""
        if self._db is not None:
            return
        db = sqlite3.connect(self.db_path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA foreign_keys=ON")
        db.create_function("gc_now", 0, self.now)
        db.executescript(SCHEMA)
        db.row_factory = sqlite3.Row
        self._db = db
        self._single(self._init_root)
        self._single(self._add_unreferenced_since)
        self.cluster_id = db.execute("SELECT value FROM meta WHERE key = 'cluster_id'").fetchone()[0]

    def start(self):
        """Open the database and, with a reactor, start the writer thread and the reader threads."""
        self.open()
        if self._reactor is not None and self._pool is None:
            self._pool = ThreadPool(minthreads=1, maxthreads=1, name="dfs-metadata-writer")
            self._pool.start()
            self._readers = ThreadPool(minthreads=1, maxthreads=READERS, name="dfs-metadata-readers")
            self._readers.start()

    def stop(self):
        for pool in (self._pool, self._readers):
            if pool is not None:
                pool.stop()
        self._pool = self._readers = None
        if self._lookup_db is not None:
            self._lookup_db.close()
            self._lookup_db = None
        if self._db is not None:
            self._db.close()
            self._db = None

    def _single(self, fn, *args):
        outcome = self._commit_batch([(fn, args)])[0]
        if isinstance(outcome, Failure):
            outcome.raiseException()
        return outcome

    def _commit_batch(self, batch):
        """Run every (fn, args) of ``batch`` in one transaction, each inside its own savepoint, so one fsync
        commits them all and a failing one is rolled back alone. Returns a result or a Failure per entry."""
        db = self._db
        started = time.perf_counter()
        outcomes = []
        try:
            db.execute("BEGIN IMMEDIATE")
            for fn, args in batch:
                db.execute("SAVEPOINT one")
                try:
                    outcomes.append(fn(db, *args))
                except BaseException:
                    outcomes.append(Failure())
                    db.execute("ROLLBACK TO one")
                db.execute("RELEASE one")
            db.execute("COMMIT")
        except sqlite3.OperationalError as e:
            if db.in_transaction:
                db.execute("ROLLBACK")
            error = e
            if "full" in str(e) or "disk I/O" in str(e):
                error = NoSpace(f"the namenode cannot record the change: {e}")
            return [Failure(error)] * len(batch)
        self.observe_transaction(time.perf_counter() - started)
        return outcomes

    def run(self, fn, *args):
        """Run ``fn(db, *args)`` in a write transaction; a Deferred of its result.

        Changes that arrive while a commit is in progress are grouped into the next one (group commit):
        each is still all-or-nothing, and none is answered before the transaction holding it is durable.
        """
        if self._pool is None:
            return maybeDeferred(self._single, fn, *args)
        d = Deferred()
        self._queue.append((fn, args, d))
        if not self._committing:
            self._next_batch()
        return d

    def _next_batch(self):
        batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
        if not batch:
            self._committing = False
            return
        self._committing = True
        work = deferToThreadPool(self._reactor, self._pool, self._commit_batch, [(fn, args) for fn, args, _ in batch])

        def deliver(outcomes):
            for (_, _, d), outcome in zip(batch, outcomes):
                d.callback(outcome) if not isinstance(outcome, Failure) else d.errback(outcome)
            self._next_batch()

        work.addCallback(deliver)

    def read(self, fn, *args):
        """Run ``fn(db, *args)`` in a read transaction on a reader thread (WAL readers never wait for commits)."""
        if self._readers is None:
            return maybeDeferred(self._single, fn, *args)
        return deferToThreadPool(self._reactor, self._readers, self._read_sync, fn, *args)

    def lookup(self, fn, *args):
        """Run a lookup of one path (an indexed walk, plus a file's extents: one row per block) in a read
        transaction on the reactor: the hop to a reader thread and back costs more CPU than the lookup itself
        (namenode OPEN: 0.81 -> 0.45 ms per request). In WAL mode it reads while the writer commits; in the rare
        case SQLite makes a reader wait (recovery after a crash), the lookup goes to a reader thread instead."""
        if self._readers is None:
            return maybeDeferred(self._single, fn, *args)
        if self._lookup_db is None:
            self._lookup_db = self._connect(timeout=0)
        try:
            return succeed(self._in_read_transaction(self._lookup_db, fn, *args))
        except sqlite3.OperationalError as e:
            if "locked" in str(e):  # SQLite would make this reader wait: not on the reactor
                return self.read(fn, *args)
            return fail()
        except Exception:
            return fail()

    def _connect(self, timeout=5.0):
        db = sqlite3.connect(self.db_path, check_same_thread=False, isolation_level=None, timeout=timeout)
        db.row_factory = sqlite3.Row
        return db

    def _read_sync(self, fn, *args):
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = self._connect()
        return self._in_read_transaction(db, fn, *args)

    @staticmethod
    def _in_read_transaction(db, fn, *args):
        db.execute("BEGIN")
        try:
            return fn(db, *args)
        finally:
            if db.in_transaction:
                db.execute("ROLLBACK")

    def _init_root(self, db):
        if db.execute("SELECT 1 FROM inodes WHERE id = ?", (ROOT,)).fetchone() is None:
            t = now_ms()
            db.execute(
                "INSERT INTO inodes (id, parent, name, type, mode, owner, grp, mtime, atime)"
                " VALUES (?, 0, '', ?, ?, ?, ?, ?, ?)",
                (ROOT, DIRECTORY, 0o755, self.defaults["owner"], self.defaults["group"], t, t),
            )
        if db.execute("SELECT 1 FROM meta WHERE key = 'cluster_id'").fetchone() is None:
            db.execute("INSERT INTO meta VALUES ('cluster_id', ?)", (uuid.uuid4().hex,))

    def now(self):
        return time.time() if self.clock is None else self.clock.seconds()

    def _add_unreferenced_since(self, db):
        """Databases made before pins lack the stamp: their unreferenced blocks start their grace now."""
        if "unreferenced_since" not in [r["name"] for r in db.execute("PRAGMA table_info(blocks)")]:
            db.execute("ALTER TABLE blocks ADD COLUMN unreferenced_since REAL")
            db.execute("UPDATE blocks SET unreferenced_since = gc_now()"
                       " WHERE NOT EXISTS (SELECT 1 FROM extents WHERE block_id = blocks.id)")
        for trigger in REFERENCE_TRIGGERS:
            db.execute(trigger)

    # -- path resolution (inside a transaction) --------------------------------------------------

    @staticmethod
    def _resolve(db, path):
        row = db.execute("SELECT * FROM inodes WHERE id = ?", (ROOT,)).fetchone()
        walked = ""
        for name in paths.split(path):
            if row["type"] != DIRECTORY:
                raise NotADirectory(f"Parent path is not a directory: {walked}")
            walked += "/" + name
            row = db.execute("SELECT * FROM inodes WHERE parent = ? AND name = ?", (row["id"], name)).fetchone()
            if row is None:
                raise FileNotFound(f"File does not exist: {walked}")
        return row

    def _lookup(self, db, path):
        """The inode at ``path``, or None when the path is free (but its parent directory exists)."""
        try:
            return self._resolve(db, path)
        except FileNotFound:
            if path == "/":
                raise
            parent = self._resolve(db, paths.parent(path))
            if parent["type"] != DIRECTORY:
                raise NotADirectory(f"Parent path is not a directory: {paths.parent(path)}") from None
            return None

    def _file(self, db, path):
        row = self._resolve(db, path)
        if row["type"] != FILE:
            raise IsADirectory(f"Path is a directory, not a file: {path}")
        return row

    def _mkdirs(self, db, path, mode, owner, group):
        """Create ``path`` and its missing ancestors; return the directory's row."""
        row = db.execute("SELECT * FROM inodes WHERE id = ?", (ROOT,)).fetchone()
        walked = ""
        for name in paths.split(path):
            walked += "/" + name
            child = db.execute("SELECT * FROM inodes WHERE parent = ? AND name = ?", (row["id"], name)).fetchone()
            if child is None:
                t = now_ms()
                cur = db.execute(
                    "INSERT INTO inodes (parent, name, type, mode, owner, grp, mtime, atime)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (row["id"], name, DIRECTORY, mode, owner, group, t, t),
                )
                self._touch(db, row["id"])
                child = db.execute("SELECT * FROM inodes WHERE id = ?", (cur.lastrowid,)).fetchone()
            elif child["type"] != DIRECTORY:
                raise NotADirectory(f"Parent path is not a directory: {walked}")
            row = child
        return row

    @staticmethod
    def _touch(db, inode_id):
        """Advance an inode's mtime; strictly, so every write is visible as a change."""
        db.execute("UPDATE inodes SET mtime = MAX(?, mtime + 1) WHERE id = ?", (now_ms(), inode_id))

    @staticmethod
    def _extents(db, inode_id):
        return [
            Extent(r["block_id"], r["block_offset"], r["length"], r["size"])
            for r in db.execute(
                "SELECT e.block_id, e.block_offset, e.length, b.size FROM extents e JOIN blocks b ON b.id = e.block_id"
                " WHERE e.inode = ? ORDER BY e.seq",
                (inode_id,),
            )
        ]

    @staticmethod
    def _set_extents(db, inode_id, extents, start_seq=0):
        for seq, ext in enumerate(extents, start_seq):
            db.execute("INSERT OR IGNORE INTO blocks (id, size) VALUES (?, ?)", (ext.block_id, ext.block_size))
            db.execute(
                "INSERT INTO extents (inode, seq, block_id, block_offset, length) VALUES (?, ?, ?, ?, ?)",
                (inode_id, seq, ext.block_id, ext.block_offset, ext.length),
            )

    @staticmethod
    def _delete_tree(db, inode_id):
        """Delete an inode and everything below it (a loop, not recursion: paths may be 1,000 levels deep)."""
        doomed, frontier = [], [inode_id]
        while frontier:
            chunk, frontier = frontier[:MAX_BATCH], frontier[MAX_BATCH:]
            doomed.extend(chunk)
            marks = ",".join("?" * len(chunk))
            frontier.extend(r[0] for r in db.execute(f"SELECT id FROM inodes WHERE parent IN ({marks})", chunk))
        for start in range(0, len(doomed), MAX_BATCH):
            chunk = doomed[start:start + MAX_BATCH]
            marks = ",".join("?" * len(chunk))
            db.execute(f"DELETE FROM extents WHERE inode IN ({marks})", chunk)
            db.execute(f"DELETE FROM inodes WHERE id IN ({marks})", chunk)

    @staticmethod
    def _ancestors(db, inode_id):
        """The ids from ``inode_id``'s parent up to the root. A parent chain that loops or breaks is corruption:
        fail rather than walk forever or act on it."""
        chain = []
        while inode_id != ROOT:
            row = db.execute("SELECT parent FROM inodes WHERE id = ?", (inode_id,)).fetchone()
            if row is None or row["parent"] in chain or row["parent"] == inode_id:
                raise IOFailure(f"the namespace is corrupt at inode {inode_id}: run dfs fsck")
            inode_id = row["parent"]
            chain.append(inode_id)
        return chain

    def _is_within(self, db, inode_id, ancestor_id):
        """True when ``inode_id`` is ``ancestor_id`` or lies below it."""
        return inode_id == ancestor_id or ancestor_id in self._ancestors(db, inode_id)

    # -- reads ----------------------------------------------------------------------------------

    def stat(self, path):
        """A (row, extents) pair: extents only for files."""

        def txn(db):
            row = self._resolve(db, path)
            return dict(row), self._extents(db, row["id"]) if row["type"] == FILE else []

        return self.lookup(txn)

    def status(self, path):
        """The inode at ``path`` as GETFILESTATUS describes it: its row with ``children``, the number of entries of
        a directory. The walk runs on the reactor; a directory's count on a reader thread, since counting a large
        directory takes milliseconds."""

        def counted(row):
            if row["type"] != DIRECTORY:
                return dict(row, children=0)
            return self.read(lambda db: dict(row, children=self._children(db, row["id"])))

        return self.lookup(self._resolve, path).addCallback(counted)

    def listing(self, path):
        """LISTSTATUS's model: (the inode at ``path``, its entries by name), each row with ``children`` as in
        ``status``; the entries are None when ``path`` is a file."""

        def txn(db):
            row = self._resolve(db, path)
            if row["type"] != DIRECTORY:
                return dict(row, children=0), None
            cursor = db.cursor()
            cursor.row_factory = None  # tuples made into dicts: half the cost of sqlite3.Row to fetch and to read
            values = cursor.execute(
                f"SELECT *, CASE WHEN type = 'DIRECTORY' THEN {CHILD_COUNT} ELSE 0 END AS children"
                " FROM inodes AS i WHERE parent = ? ORDER BY name",
                (row["id"],),
            ).fetchall()
            names = [column[0] for column in cursor.description]
            return dict(row, children=len(values)), [dict(zip(names, v)) for v in values]

        return self.read(txn)

    @staticmethod
    def _children(db, inode_id):
        return db.execute(f"SELECT {CHILD_COUNT} FROM inodes AS i WHERE id = ?", (inode_id,)).fetchone()[0]

    def content_summary(self, path):
        def txn(db):
            row = self._resolve(db, path)
            summary = {"directoryCount": 0, "fileCount": 0, "length": 0, "spaceConsumed": 0}
            stack = [row]
            while stack:
                node = stack.pop()
                if node["type"] == DIRECTORY:
                    summary["directoryCount"] += 1
                    stack.extend(db.execute("SELECT * FROM inodes WHERE parent = ?", (node["id"],)).fetchall())
                else:
                    summary["fileCount"] += 1
                    summary["length"] += node["size"]
                    summary["spaceConsumed"] += node["size"] * node["replication"]
            return summary

        return self.read(txn)

    def walk_files(self, path="/"):
        """[(path, row, extents)] for every file at or below ``path`` (fsck, repair)."""

        def txn(db):
            root = self._resolve(db, path)
            out, stack = [], [(path, root)]
            while stack:
                p, node = stack.pop()
                if node["type"] == FILE:
                    out.append((p, dict(node), self._extents(db, node["id"])))
                    continue
                for child in db.execute("SELECT * FROM inodes WHERE parent = ? ORDER BY name DESC", (node["id"],)):
                    stack.append(((p.rstrip("/") + "/" + child["name"]), child))
            return out

        return self.read(txn)

    def disk_usage(self):
        """Bytes the database takes on disk, its write-ahead log included (three stat calls: cheap enough inline)."""
        total = 0
        for suffix in ("", "-wal", "-shm"):
            try:
                total += os.path.getsize(self.db_path + suffix)
            except OSError:
                pass
        return total

    def namespace_problems(self):
        """What breaks "the namespace is a tree" (fsck): every piece that no path reaches, named by its top inode,
        as an ``orphan`` (its parent is gone), ``under_file`` (its parent is a file) or ``cycle`` (its parent chain
        loops: ``cycle`` lists the ids), with the inodes and files in it. Empty for a healthy namespace."""

        def txn(db):
            # Each inode has one parent, so from the root (kept out of its own subtree) every reachable inode comes
            # up once and the walk ends; 60 ms for 100,000 inodes, the detailed query only when counts differ.
            reachable = (
                "WITH RECURSIVE reachable(id, type) AS (SELECT id, type FROM inodes WHERE id = :root"
                " UNION ALL SELECT i.id, i.type FROM reachable AS r JOIN inodes AS i ON i.parent = r.id"
                " WHERE r.type = 'DIRECTORY' AND i.id != :root) "
            )
            counts = db.execute(reachable + "SELECT (SELECT COUNT(*) FROM reachable), (SELECT COUNT(*) FROM inodes)",
                                {"root": ROOT}).fetchone()
            if counts[0] == counts[1]:
                return []
            detached = {r["id"]: r for r in db.execute(
                reachable + "SELECT id, parent, name, type FROM inodes WHERE id NOT IN (SELECT id FROM reachable)",
                {"root": ROOT})}
            problems, placed = [], {}
            for inode_id in detached:
                chain, node = [], inode_id
                while node in detached and node not in placed and node not in chain:
                    chain.append(node)
                    node = detached[node]["parent"]
                if node in placed:
                    problem = placed[node]
                else:
                    top = detached[chain[-1]]
                    problem = {"problem": "orphan", "inode": top["id"], "name": top["name"], "parent": top["parent"],
                               "inodes": 0, "files": 0}
                    if node in chain:
                        problem.update(problem="cycle", cycle=chain[chain.index(node):])
                    elif db.execute("SELECT 1 FROM inodes WHERE id = ?", (node,)).fetchone():
                        problem["problem"] = "under_file"
                    problems.append(problem)
                for member in chain:
                    placed[member] = problem
            for inode_id, row in detached.items():
                placed[inode_id]["inodes"] += 1
                placed[inode_id]["files"] += row["type"] == FILE
            return problems

        return self.read(txn)

    def count_files(self):
        return self.read(lambda db: db.execute("SELECT COUNT(*) FROM inodes WHERE type = ?", (FILE,)).fetchone()[0])

    def block_targets(self):
        """{block_id: (wanted replication, block size)} for every block a file refers to."""

        def txn(db):
            rows = db.execute(
                "SELECT e.block_id, MAX(i.replication), b.size FROM extents e JOIN inodes i ON i.id = e.inode"
                " JOIN blocks b ON b.id = e.block_id GROUP BY e.block_id"
            )
            return {r[0]: (r[1], r[2]) for r in rows}

        return self.read(txn)

    def known_datanodes(self):
        """{id: URL} of every datanode that ever registered with this cluster."""
        return self.read(lambda db: {r[0]: r[1] for r in db.execute("SELECT id, url FROM datanodes")})

    def remember_datanode(self, node_id, url):
        return self.run(lambda db: db.execute(
            "INSERT INTO datanodes (id, url) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET url = excluded.url",
            (node_id, url)))

    def forget_datanode(self, node_id):
        return self.run(lambda db: db.execute("DELETE FROM datanodes WHERE id = ?", (node_id,)))

    def collectable(self, block_ids, now):
        """{id: when it became unreferenced} for those of ``block_ids`` that no file refers to and no live pin
        holds; the time is None for a block no file ever referred to (an upload that never committed)."""

        def txn(db):
            found = {}
            for i in range(0, len(block_ids), MAX_BATCH):
                part = block_ids[i:i + MAX_BATCH]
                qs = ",".join("?" * len(part))
                referenced = {r[0] for r in db.execute(
                    f"SELECT DISTINCT block_id FROM extents WHERE block_id IN ({qs})", part)}
                pinned = {r[0] for r in db.execute(
                    f"SELECT DISTINCT block_id FROM pins WHERE expires > ? AND block_id IN ({qs})", [now, *part])}
                since = dict(db.execute(f"SELECT id, unreferenced_since FROM blocks WHERE id IN ({qs})", part))
                found.update((b, since.get(b)) for b in part if b not in referenced and b not in pinned)
            return found

        return self.read(txn)

    def pin(self, block_id, owner, expires):
        return self.run(lambda db: db.execute(
            "INSERT INTO pins (block_id, owner, expires) VALUES (?, ?, ?)"
            " ON CONFLICT (block_id, owner) DO UPDATE SET expires = MAX(expires, excluded.expires)",
            (block_id, owner, expires)))

    def unpin(self, block_ids, owner):
        def txn(db):
            for i in range(0, len(block_ids), MAX_BATCH):
                part = block_ids[i:i + MAX_BATCH]
                db.execute(f"DELETE FROM pins WHERE owner = ? AND block_id IN ({','.join('?' * len(part))})",
                           [owner, *part])

        return self.run(txn)

    def renew_pins(self, owner, expires, now):
        """Extend ``owner``'s pins to ``expires``; drop every owner's pins that expired before ``now``."""

        def txn(db):
            db.execute("UPDATE pins SET expires = ? WHERE owner = ?", (expires, owner))
            db.execute("DELETE FROM pins WHERE expires <= ?", (now,))

        return self.run(txn)

    def forget_unreferenced_blocks(self, now=0):
        """Drop the rows of blocks no file refers to (GC found no replica of them); a block pinned at ``now`` (by
        default: pinned at all) keeps its row, and with it when it became unreferenced."""
        return self.run(lambda db: db.execute(
            "DELETE FROM blocks WHERE id NOT IN (SELECT block_id FROM extents)"
            " AND id NOT IN (SELECT block_id FROM pins WHERE expires > ?)", (now,)).rowcount)

    # -- writes ---------------------------------------------------------------------------------

    def mkdirs(self, path, mode=0o755, owner=None, group=None):
        def txn(db):
            try:
                if self._resolve(db, path)["type"] != DIRECTORY:
                    raise AlreadyExists(f"{path} already exists as a file")
            except (FileNotFound, NotADirectory):
                pass
            self._mkdirs(db, path, mode, owner or self.defaults["owner"], group or self.defaults["group"])
            return True

        return self.run(txn)

    def check_create(self, path, overwrite, create_parent=True):
        """Fail early, before any bytes move, when a CREATE could not commit."""

        def txn(db):
            try:
                existing = self._lookup(db, path)
            except FileNotFound:
                if not create_parent:
                    raise FileNotFound(f"Parent directory does not exist: {paths.parent(path)}") from None
                return None
            self._check_replaceable(existing, path, overwrite)
            return None

        return self.lookup(txn)

    @staticmethod
    def _check_replaceable(existing, path, overwrite):
        if existing is None:
            return
        if existing["type"] == DIRECTORY:
            raise AlreadyExists(f"{path} already exists as a directory")
        if not overwrite:
            raise AlreadyExists(f"{path} already exists")

    def create(self, path, extents, overwrite, replication=None, block_size=None, mode=0o644, owner=None,
               group=None, create_parent=True, mtime=None, atime=None):
        """Point ``path`` at ``extents`` in one transaction (an overwrite replaces the old file atomically).
        ``mtime``/``atime`` (ms) replace the times the write would set, so a copy keeps its times in one commit."""
        replication = replication or self.defaults["replication"]
        block_size = block_size or self.defaults["block_size"]

        def txn(db):
            if path == "/":
                raise AlreadyExists("/ already exists as a directory")
            if create_parent:
                parent = self._mkdirs(db, paths.parent(path), 0o755, owner or self.defaults["owner"],
                                      group or self.defaults["group"])
            else:
                parent = self._resolve(db, paths.parent(path))
                if parent["type"] != DIRECTORY:
                    raise NotADirectory(f"Parent path is not a directory: {paths.parent(path)}")
            existing = db.execute(
                "SELECT * FROM inodes WHERE parent = ? AND name = ?", (parent["id"], paths.basename(path))
            ).fetchone()
            self._check_replaceable(existing, path, overwrite)
            size = sum(e.length for e in extents)
            t = now_ms()
            accessed = t if atime is None else atime
            if existing is not None:
                inode_id = existing["id"]
                db.execute("DELETE FROM extents WHERE inode = ?", (inode_id,))
                db.execute(
                    "UPDATE inodes SET size = ?, mtime = COALESCE(?, MAX(?, mtime + 1)), atime = ?, replication = ?,"
                    " block_size = ? WHERE id = ?",
                    (size, mtime, t, accessed, replication, block_size, inode_id),
                )
            else:
                cur = db.execute(
                    "INSERT INTO inodes (parent, name, type, size, mode, owner, grp, mtime, atime, replication,"
                    " block_size) VALUES (?, ?, 'FILE', ?, ?, ?, ?, ?, ?, ?, ?)",
                    (parent["id"], paths.basename(path), size, mode, owner or self.defaults["owner"],
                     group or self.defaults["group"], t if mtime is None else mtime, accessed, replication, block_size),
                )
                inode_id = cur.lastrowid
                self._touch(db, parent["id"])
            self._set_extents(db, inode_id, extents)
            return dict(db.execute("SELECT * FROM inodes WHERE id = ?", (inode_id,)).fetchone())

        return self.run(txn)

    def append(self, path, extents):
        """Add ``extents`` after whatever the file holds when this commits."""

        def txn(db):
            row = self._file(db, path)
            seq = db.execute("SELECT COALESCE(MAX(seq) + 1, 0) FROM extents WHERE inode = ?", (row["id"],))
            self._set_extents(db, row["id"], extents, seq.fetchone()[0])
            db.execute("UPDATE inodes SET size = size + ? WHERE id = ?", (sum(e.length for e in extents), row["id"]))
            self._touch(db, row["id"])
            return dict(db.execute("SELECT * FROM inodes WHERE id = ?", (row["id"],)).fetchone())

        return self.run(txn)

    def file_for_append(self, path):
        """The row of an existing file that APPEND may extend (fails early, before any bytes move)."""
        return self.lookup(lambda db: dict(self._file(db, path)))

    def delete(self, path, recursive):
        def txn(db):
            if path == "/":
                raise IOFailure("Cannot delete the root directory")
            try:
                row = self._resolve(db, path)
            except (FileNotFound, NotADirectory):
                return False
            if row["type"] == DIRECTORY and not recursive:
                if db.execute("SELECT 1 FROM inodes WHERE parent = ? LIMIT 1", (row["id"],)).fetchone():
                    raise DirectoryNotEmpty(f"`{path} is non empty': Directory is not empty")
            self._delete_tree(db, row["id"])
            self._touch(db, row["parent"])
            return True

        return self.run(txn)

    def rename(self, src, dst, overwrite=False):
        """HDFS's two renames. Without ``overwrite`` (WebHDFS RENAME without renameoptions): into ``dst`` when it is
        a directory, and False, changing nothing, when the source is missing or the root, the destination exists
        or has no parent, or a directory would move into itself. With ``overwrite`` (renameoptions=OVERWRITE):
        exactly onto ``dst``, atomically replacing a file or an empty directory there; the same cases raise.
        Either way a path onto itself is True and changes nothing."""

        def txn(db):
            try:
                return self._rename(db, src, dst, overwrite)
            except (FileNotFound, AlreadyExists, CannotMove):
                if overwrite:
                    raise
                return False

        return self.run(txn)

    def _rename(self, db, src, dst, overwrite):
        row = self._resolve(db, src)
        target, existing = dst, self._lookup(db, dst)
        if existing is not None and existing["type"] == DIRECTORY and not overwrite:
            target = paths.join(dst, paths.basename(src))
            existing = self._lookup(db, target)
        if existing is not None and existing["id"] == row["id"]:
            return True
        new_parent = self._resolve(db, paths.parent(target))
        if row["id"] == ROOT or target == "/" or self._is_within(db, new_parent["id"], row["id"]):
            raise CannotMove(f"Cannot rename {src} to {target}: a directory cannot move into itself")
        if existing is not None:
            if not overwrite:
                raise AlreadyExists(f"Rename destination {target} already exists")
            if existing["type"] != row["type"]:
                raise AlreadyExists(f"Rename destination {target} is a {existing['type'].lower()}")
            if db.execute("SELECT 1 FROM inodes WHERE parent = ? LIMIT 1", (existing["id"],)).fetchone():
                raise DirectoryNotEmpty(f"Rename destination {target} is a non-empty directory")
            self._delete_tree(db, existing["id"])
        db.execute(
            "UPDATE inodes SET parent = ?, name = ? WHERE id = ?", (new_parent["id"], paths.basename(target), row["id"])
        )
        self._touch(db, row["parent"])
        self._touch(db, new_parent["id"])
        return True

    def copy(self, src, dst, overwrite=False):
        """Server-side copy: new inodes sharing the source's blocks. Directories copy recursively."""

        def txn(db):
            row = self._resolve(db, src)
            existing = self._lookup(db, dst)
            if existing is not None and existing["type"] == DIRECTORY:
                dst_path = paths.join(dst, paths.basename(src))
                existing = self._lookup(db, dst_path)
            else:
                dst_path = dst
            if existing is not None and existing["id"] == row["id"]:
                raise AlreadyExists(f"Cannot copy {src} onto itself")
            self._check_replaceable(existing, dst_path, overwrite and row["type"] == FILE)
            parent = self._resolve(db, paths.parent(dst_path))
            if self._is_within(db, parent["id"], row["id"]):
                raise CannotMove(f"Cannot copy {src} into itself")
            if existing is not None:
                self._delete_tree(db, existing["id"])
            self._copy_tree(db, row, parent["id"], paths.basename(dst_path))
            self._touch(db, parent["id"])
            return True

        return self.run(txn)

    def _copy_tree(self, db, row, parent_id, name):
        """Copy ``row`` and everything below it as ``name`` in ``parent_id`` (a loop: paths may be deep)."""
        pending = [(row, parent_id, name)]
        while pending:
            row, parent_id, name = pending.pop()
            t = now_ms()
            cur = db.execute(
                "INSERT INTO inodes (parent, name, type, size, mode, owner, grp, mtime, atime, replication, block_size)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (parent_id, name, row["type"], row["size"], row["mode"], row["owner"], row["grp"], t, t,
                 row["replication"], row["block_size"]),
            )
            new_id = cur.lastrowid
            if row["type"] == FILE:
                db.execute(
                    "INSERT INTO extents (inode, seq, block_id, block_offset, length)"
                    " SELECT ?, seq, block_id, block_offset, length FROM extents WHERE inode = ?",
                    (new_id, row["id"]),
                )
            else:
                children = db.execute("SELECT * FROM inodes WHERE parent = ?", (row["id"],)).fetchall()
                pending.extend((child, new_id, child["name"]) for child in children)

    def concat(self, target, sources):
        def txn(db):
            row = self._file(db, target)
            seq = db.execute("SELECT COALESCE(MAX(seq) + 1, 0) FROM extents WHERE inode = ?", (row["id"],)).fetchone()[0]
            added = 0
            for src in sources:
                if src == target:
                    raise BadRequest(f"CONCAT source {src} is the target")
                src_row = self._file(db, src)
                for ext in self._extents(db, src_row["id"]):
                    self._set_extents(db, row["id"], [ext], seq)
                    seq += 1
                added += src_row["size"]
                self._delete_tree(db, src_row["id"])
                self._touch(db, src_row["parent"])
            db.execute("UPDATE inodes SET size = size + ? WHERE id = ?", (added, row["id"]))
            self._touch(db, row["id"])
            return True

        return self.run(txn)

    def truncate(self, path, new_length):
        def txn(db):
            row = self._file(db, path)
            if new_length > row["size"]:
                raise BadRequest(f"Cannot truncate {path} to a larger size ({new_length} > {row['size']})")
            kept, total = [], 0
            for ext in self._extents(db, row["id"]):
                if total >= new_length:
                    break
                take = min(ext.length, new_length - total)
                kept.append(Extent(ext.block_id, ext.block_offset, take, ext.block_size))
                total += take
            db.execute("DELETE FROM extents WHERE inode = ?", (row["id"],))
            self._set_extents(db, row["id"], kept)
            db.execute("UPDATE inodes SET size = ? WHERE id = ?", (new_length, row["id"]))
            self._touch(db, row["id"])
            return True

        return self.run(txn)

    def set_times(self, path, mtime=None, atime=None):
        def txn(db):
            row = self._resolve(db, path)
            db.execute(
                "UPDATE inodes SET mtime = COALESCE(?, mtime), atime = COALESCE(?, atime) WHERE id = ?",
                (mtime, atime, row["id"]),
            )

        return self.run(txn)

    def set_permission(self, path, mode):
        return self.run(lambda db: db.execute("UPDATE inodes SET mode = ? WHERE id = ?", (mode, self._resolve(db, path)["id"])))

    def set_owner(self, path, owner=None, group=None):
        def txn(db):
            row = self._resolve(db, path)
            db.execute(
                "UPDATE inodes SET owner = COALESCE(?, owner), grp = COALESCE(?, grp) WHERE id = ?",
                (owner, group, row["id"]),
            )

        return self.run(txn)

    def set_replication(self, path, replication):
        def txn(db):
            row = self._resolve(db, path)
            if row["type"] != FILE:
                return False
            db.execute("UPDATE inodes SET replication = ? WHERE id = ?", (replication, row["id"]))
            return True

        return self.run(txn)

    def format(self):
        """Wipe the namespace (the original DFS's mkfs); the cluster id stays."""

        def txn(db):
            db.execute("DELETE FROM extents")
            db.execute("DELETE FROM blocks")
            db.execute("DELETE FROM inodes WHERE id != ?", (ROOT,))
            self._touch(db, ROOT)

        return self.run(txn)

    def integrity_check(self):
        return self.read(lambda db: db.execute("PRAGMA integrity_check").fetchone()[0])
