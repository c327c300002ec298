"""The namespace in one SQLite file: inodes, directory entries, extents, blocks, pins, known datanodes.

Every public method runs one transaction. Changes run on one writer thread, so SQLite sees one writer and the
reactor never waits for an fsync; scans run on reader threads; lookups of one path run on the reactor, where they
cost less than the hop to a thread would. Nothing is visible, or acknowledged, before its transaction commits, and
every commit but a pin's is on disk before it is answered (``pin``).
"""

import os
import sqlite3
import threading
import time

from twisted.internet.defer import Deferred, fail, maybeDeferred, succeed
from twisted.internet.threads import deferToThreadPool
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

from dfs.errors import NoSpace
from dfs.namenode.namespace import schema
from dfs.namenode.namespace.relational import RelationalNamespace
from dfs.namenode.namespace.sql import MAX_BATCH

READERS = 4


class SQLiteNamespace(RelationalNamespace):
    """The SQLite backend of ``namespace.interface.Namespace`` (the operations: ``relational``). ``run`` and
    ``read`` run a function on a connection in a write or read transaction (tests use them to damage a database by
    hand)."""

    def __init__(self, db_path, reactor=None, defaults=None, clock=None):
        # The clock stamps when blocks become unreferenced; wall time without it or a reactor.
        super().__init__(defaults, clock or reactor)
        self.db_path = db_path
        self._db = None
        self._pool = None
        self._readers = None
        self._local = threading.local()
        self._reader_dbs = []  # every reader thread's connection, closed at stop
        self._lookup_db = None
        self._queue = []
        self._committing = False
        self._reactor = reactor
        self._synchronous = "FULL"  # the writer connection's setting, changed on the writer thread only

    # -- opening and upgrading --------------------------------------------------------------------

    def open(self):
        """Open the database, bring its schema up to date and create the root; learns ``cluster_id``.
        Safe to call twice."""
        if self._db is not None:
            return
        db = sqlite3.connect(self.db_path, check_same_thread=False, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.create_function("gc_now", 0, self.now)
            upgrade(db)
            db.execute("PRAGMA foreign_keys=ON")
        except BaseException:
            db.close()
            raise
        self._db = db
        self._single(self._init_root)
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
        for db in self._reader_dbs:
            db.close()
        self._reader_dbs = []
        self._local = threading.local()
        if self._lookup_db is not None:
            self._lookup_db.close()
            self._lookup_db = None
        if self._db is not None:  # the last connection to close checkpoints and removes the -wal file
            self._db.close()
            self._db = None

    # -- running transactions ------------------------------------------------------------------

    def _single(self, fn, *args, durable=True):
        outcome = self._commit_batch([(fn, args)], durable)[0]
        if isinstance(outcome, Failure):
            outcome.raiseException()
        return outcome

    def _commit_batch(self, batch, durable=True):
        """Run every (fn, args) of ``batch`` in one transaction, each inside its own savepoint, so one fsync
        commits them all and a failing one is rolled back alone. Returns a result or a Failure per entry.
        Not ``durable``: the commit is visible at once but reaches the disk with the next durable one (WAL with
        ``synchronous=NORMAL``), or is lost with a crash of the machine."""
        db = self._db
        started = time.perf_counter()
        outcomes = []
        try:
            level = "FULL" if durable else "NORMAL"
            if level != self._synchronous:  # outside a transaction, where SQLite takes the change
                db.execute(f"PRAGMA synchronous={level}")
                self._synchronous = level
            db.execute("BEGIN IMMEDIATE")
            for fn, args in batch:
                db.execute("SAVEPOINT one")
                try:
                    self._begin_commit(db)
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
        return self._write(fn, args, durable=True)

    def pin(self, block_id, owner, expires):
        """A pin is committed without waiting for the disk: GC reads this database, so the pin guards its block
        once visible, and it has to outlive only its upload, which runs in this process. A crash of the machine
        that loses it ends the upload unanswered, and every later commit (WAL order) is lost with it, so no
        acknowledged file can name the block (docs/architecture.md, "Garbage collection"). One fsync less per
        file; the pin rides the group commit like any change."""
        return self._write(self._pin, (block_id, owner, expires), durable=False)

    def _write(self, fn, args, durable):
        if self._pool is None:
            return maybeDeferred(self._single, fn, *args, durable=durable)
        d = Deferred()
        self._queue.append((fn, args, d, durable))
        if not self._committing:
            self._next_batch()
        return d

    def _next_batch(self):
        batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
        if not batch:
            self._committing = False
            return
        self._committing = True
        durable = any(entry[3] for entry in batch)  # one durable change makes the whole batch wait for the disk
        work = deferToThreadPool(self._reactor, self._pool, self._commit_batch,
                                 [(fn, args) for fn, args, _, _ in batch], durable)

        def deliver(outcomes):
            for (_, _, d, _), outcome in zip(batch, outcomes):
                d.callback(outcome) if not isinstance(outcome, Failure) else d.errback(outcome)
            self._next_batch()

        def broken(failure):  # an error outside any one change (a damaged file): fail the batch, keep writing
            deliver([failure] * len(batch))

        work.addCallbacks(deliver, broken)

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
        return sqlite3.connect(self.db_path, check_same_thread=False, isolation_level=None, timeout=timeout)

    def _read_sync(self, fn, *args):
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = self._connect()
            self._reader_dbs.append(db)
        return self._in_read_transaction(db, fn, *args)

    @staticmethod
    def _in_read_transaction(db, fn, *args):
        db.execute("BEGIN")
        try:
            return fn(db, *args)
        finally:
            if db.in_transaction:
                db.execute("ROLLBACK")

    def disk_usage(self):
        """Bytes the database takes on disk, its write-ahead log included (three stat calls: cheap enough inline)."""
        total = 0
        for suffix in ("", "-wal", "-shm"):
            try:
                total += os.path.getsize(self.db_path + suffix)
            except OSError:
                pass
        return total

    def integrity_check(self):
        return self.read(lambda db: db.execute("PRAGMA integrity_check").fetchone()[0])



# -- schema versions -------------------------------------------------------------------------------

VERSION_TABLE = "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied REAL NOT NULL)"


def schema_version(db):
    """(the schema version a database holds, whether it is recorded): 0 for an empty database, 1 unrecorded for
    one written before versioned schemas."""
    tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "schema_version" in tables:
        return db.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] or 0, True
    return (1 if "inodes" in tables else 0), False


def upgrade(db):
    """Apply the schema files the database lacks, in order, each in one transaction with its version record.
    A database newer than this code is refused, untouched."""
    scripts = schema.scripts("sqlite")
    version, recorded = schema_version(db)
    if version > len(scripts):
        raise schema.SchemaTooNew(
            f"the namenode database has schema version {version}, newer than this dfs knows ({len(scripts)}):"
            " run the dfs release that wrote it")
    if version == 1 and not recorded:
        _run_script(db, _stamp_unreferenced(db, scripts[0][1]), 1)
    for number, text in scripts[version:]:
        _run_script(db, text, number)


def _run_script(db, text, number):
    """Run ``text`` and record ``number`` in one transaction (executescript runs its own BEGIN and COMMIT)."""
    try:
        db.executescript(f"BEGIN IMMEDIATE;\n{text}\n;{VERSION_TABLE};\n"
                         f"INSERT INTO schema_version (version, applied) VALUES ({int(number)}, {time.time()});\n"
                         "COMMIT;")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def _stamp_unreferenced(db, initial):
    """The SQL that brings a database of a release before pins to version 1: it lacks the stamp of when a block
    became unreferenced, and its triggers (those of ``initial``, the version 1 script); its unreferenced blocks
    start their grace now. Empty for a database that has them."""
    if "unreferenced_since" in [row[1] for row in db.execute("PRAGMA table_info(blocks)")]:
        return ""
    triggers = ["CREATE TRIGGER" + body for body in initial.split("CREATE TRIGGER")[1:]]
    return ("ALTER TABLE blocks ADD COLUMN unreferenced_since REAL;\n"
            "UPDATE blocks SET unreferenced_since = gc_now()"
            " WHERE NOT EXISTS (SELECT 1 FROM extents WHERE block_id = blocks.id);\n" + "".join(triggers))
