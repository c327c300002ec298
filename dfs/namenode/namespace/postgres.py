"""The namespace on PostgreSQL (``pip install dfs[postgres]``): the shared operations (``relational``) on a
transaction runner and schema upgrades of its own.

Transactions run on a bounded pool of threads, each with a connection from a bounded pool, so the reactor never
waits for the database. Changes are SERIALIZABLE and retried, a few times with backoff, when PostgreSQL refuses one
as conflicting with a concurrent change (docs/architecture.md, "The namespace on PostgreSQL"); reads are
REPEATABLE READ READ ONLY: one snapshot, never a conflict. No lookup runs on the reactor (SQLite's trick): every
query, even of one path, crosses the network.
"""

import logging
import random
import time

import psycopg
from psycopg import errors
from psycopg_pool import ConnectionPool, PoolTimeout
from twisted.internet.defer import maybeDeferred
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.threadpool import ThreadPool

from dfs import paths
from dfs.errors import IOFailure, NoSpace, Unavailable
from dfs.logs import background_failure
from dfs.namenode.namespace import schema
from dfs.namenode.namespace.model import DIRECTORY, ROOT, Inode, Status
from dfs.namenode.namespace.relational import RelationalNamespace
from dfs.namenode.namespace.sql import INODE

log = Logger()

CONNECTIONS = 8  # threads, and connections: one each, so a thread never waits for a connection
# Tries of a transaction PostgreSQL refuses as conflicting, before the caller is told to retry. Its predicate locks
# cover index pages, so changes near each other conflict often: 8 clients changing a few paths of a small namespace
# saw 38% of attempts refused, and refusals come in runs: 8 tries left one request in about 1,500 refused every
# time, 16 still one race test in four with a request refused throughout. 64 tries wait 15 s at most in all, well
# inside a client's 60 s read timeout.
ATTEMPTS = 64
BACKOFF = 0.005  # seconds: the first retry waits up to this, each next one up to twice as long (random: no lockstep)
MAX_BACKOFF = 0.25  # seconds: no wait longer
CONNECT_TIMEOUT = 30.0  # seconds the start-up waits for the database
# Seconds a transaction waits for a connection. Each thread has its own, so a wait means the pool is reconnecting
# (the database restarts or fails over): the request is refused soon (503) rather than held.
WAIT_FOR_CONNECTION = 5.0
# Seconds the pool keeps trying one lost connection again (after 1, 2, 4 s...) before it lets the next request
# start afresh: without it the waits double up to minutes, and a database back after 30 s is found after 60.
RECONNECT_FOR = 10.0
# A schema change runs under this lock, so namenodes starting together upgrade one after the other.
UPGRADE_LOCK = 0x646673  # "dfs"
VERSION_TABLE = "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY," \
                " applied DOUBLE PRECISION NOT NULL)"
# Refusals that say nothing about the change itself: running it again, on a fresh snapshot, may succeed.
RETRIED = (errors.SerializationFailure, errors.DeadlockDetected)
SIZE_EVERY = 10.0  # seconds a measure of the database's size is reused (a status page reads it)
# The application_name of a namenode's sessions: pg_stat_activity shows them, and `dfs admin migrate` refuses a
# database a namenode is using.
APPLICATION = "dfs-namenode"


class _PoolWarnings(logging.Handler):
    """psycopg_pool's warnings (each failed attempt to reconnect) as warnings of the namenode's log, rather than
    stray lines on its standard error."""

    def emit(self, record):
        log.warn("namespace connection pool: {message}", message=record.getMessage())


_pool_log = logging.getLogger("psycopg.pool")
_pool_log.addHandler(_PoolWarnings(logging.WARNING))
_pool_log.propagate = False


class TooManyConflicts(Unavailable):
    """A change PostgreSQL refused as conflicting with concurrent changes, every time it was tried: nothing was
    done; the client may try again (503, as Hadoop's RetriableException)."""


class DatabaseUnavailable(Unavailable):
    """The namespace database cannot be reached (it restarts, fails over, or is down): nothing was done; the client
    may try again (503 with Retry-After)."""


class SchemaChanged(Unavailable):
    """A namenode of a newer dfs upgraded the schema while this one ran: it changes nothing more (503, so clients go
    on to an upgraded namenode)."""


class PostgresNamespace(RelationalNamespace):
    """The PostgreSQL backend of the namespace. ``run`` and ``read`` run a function on a psycopg connection in a
    write or a read transaction, as the SQLite backend's do on an sqlite3 connection; placeholders are ``?`` (the
    shared SQL's) or ``%s``, rows are tuples. Without a reactor they run at once in the caller's thread (tests and
    tools). Without a clock, GC's stamps are the database's clock (the same for every namenode sharing it)."""

    GREATEST = "GREATEST"
    SHARED = True
    CURRENT_COMMIT = "dfs_commit()"

    def __init__(self, url, reactor=None, defaults=None, clock=None, connections=CONNECTIONS, attempts=ATTEMPTS):
        super().__init__(defaults, clock)
        self.url = url
        self.connections = connections
        self.attempts = attempts
        self._reactor = reactor
        self._connections = None
        self._threads = None
        self._size, self._sized_at, self._sizing = 0, None, False
        self._schema = schema.latest("postgres")

    # -- life -------------------------------------------------------------------------------------

    def open(self):
        """Connect, bring the schema up to date and create the root; learns ``cluster_id``. Blocks until the
        database answers (start-up, before the namenode listens). Safe to call twice."""
        if self._connections is not None:
            return
        pool = ConnectionPool(self.url, min_size=1, max_size=self.connections, timeout=WAIT_FOR_CONNECTION,
                              reconnect_timeout=RECONNECT_FOR, open=False, name="dfs-namespace",
                              kwargs={"application_name": APPLICATION})
        try:
            # One connection first: a wrong address, password or database fails now with the server's reason,
            # where the pool would keep trying until its timeout.
            with psycopg.connect(self.url, connect_timeout=int(CONNECT_TIMEOUT), application_name=APPLICATION) as db:
                upgrade(db)
            pool.open(wait=True, timeout=CONNECT_TIMEOUT)
        except (psycopg.OperationalError, PoolTimeout) as e:
            pool.close()
            raise IOFailure(f"cannot open the namespace database: {e}") from None
        except BaseException:
            pool.close()
            raise
        self._connections = pool
        self._transact(self._init_root, (), write=True)
        self.cluster_id = self._transact(_cluster_id, (), write=False)

    def start(self):
        """Open the database and, with a reactor, start the threads that run transactions."""
        self.open()
        if self._reactor is not None and self._threads is None:
            self._threads = ThreadPool(minthreads=1, maxthreads=self.connections, name="dfs-namespace")
            self._threads.start()

    def stop(self):
        if self._threads is not None:
            self._threads.stop()
            self._threads = None
        if self._connections is not None:
            self._connections.close()
            self._connections = None

    # -- running transactions ---------------------------------------------------------------------

    def run(self, fn, *args):
        """Run ``fn(db, *args)`` in a SERIALIZABLE transaction; a Deferred of its result, which fires once the
        change is committed. ``fn`` may run more than once (PostgreSQL refuses a transaction that conflicts with a
        concurrent one): it must not act outside the database."""
        return self._defer(self._transact, fn, args, write=True)

    def read(self, fn, *args):
        """Run ``fn(db, *args)`` in a REPEATABLE READ READ ONLY transaction (one snapshot); a Deferred of its
        result."""
        return self._defer(self._transact, fn, args, write=False)

    lookup = read  # one path's lookup is a query over the network: never on the reactor

    def _defer(self, work, *args, **kwargs):
        if self._threads is None:
            return maybeDeferred(work, *args, **kwargs)
        return deferToThreadPool(self._reactor, self._threads, work, *args, **kwargs)

    def _transact(self, fn, args, write):
        """Run one transaction in this thread, trying it again when PostgreSQL refuses it as conflicting."""
        for attempt in range(self.attempts):
            try:
                return self._attempt(fn, args, write)
            except RETRIED as e:
                self.observe_retry(e)
                if attempt + 1 < self.attempts:
                    time.sleep(random.uniform(0, min(MAX_BACKOFF, BACKOFF * 2 ** attempt)))
        raise TooManyConflicts(f"the namespace database refused the change {self.attempts} times as conflicting with"
                               " concurrent changes; nothing was done: retry")

    def _attempt(self, fn, args, write):
        started = time.perf_counter()
        committing = False
        try:
            with self._connections.connection() as db:  # rolls back when ``fn`` raises
                db.isolation_level = psycopg.IsolationLevel.SERIALIZABLE if write \
                    else psycopg.IsolationLevel.REPEATABLE_READ
                db.read_only = not write
                if self.clock is not None:
                    db.execute("SELECT set_config('dfs.now', %s, true)", (repr(self.now()),))
                if write:
                    self._begin_commit(db)
                result = fn(_Placeholders(db), *args)
                committing = True
                db.commit()
        except errors.DiskFull as e:
            raise NoSpace(f"the namenode cannot record the change: its database is out of space: {e}") from None
        except errors.ReadOnlySqlTransaction as e:  # a standby, as a URL without target_session_attrs may find
            raise DatabaseUnavailable("the namespace database accepts no writes (a standby? give the URL"
                                      f" target_session_attrs=read-write): nothing was done: {e}") from None
        except (psycopg.OperationalError, PoolTimeout) as e:
            if not _connection_lost(e):
                raise
            self._connections.check()  # replace every other pooled connection the loss broke, not one per request
            if write and committing:  # its commit was sent: it may have been made, only the database knows
                raise IOFailure("the namenode lost its namespace database (the change may or may not have been"
                                f" made): {e}") from None
            raise DatabaseUnavailable(f"the namenode cannot reach its namespace database (nothing was done): {e}"
                                      ) from None
        if write:
            self.observe_transaction(time.perf_counter() - started)
        return result

    # -- what differs from SQLite -----------------------------------------------------------------

    def status(self, path, checker=None):
        """The Status at ``path`` in one transaction (a lookup here is no cheaper than a read)."""

        def txn(db):
            inode = self._resolve(db, path, self._check(db, checker, "GETFILESTATUS", path))
            if inode.type == DIRECTORY:
                return self._directory_status(db, inode)
            return Status(inode, holes=self._holes(db, inode))

        return self.read(txn)

    def _walk(self, db, path):
        """The shared ``_walk`` (the inodes along ``path`` as far as they exist, a file ending it) in one query
        rather than one per name: here each query is a round trip."""
        names = paths.split(path)
        return [Inode(*row) for row in db.execute(WALK, (names, len(names)))]

    def _in(self, items):
        return "= ANY(?)", [list(items)]

    def _begin_commit(self, db):
        """Number this write transaction from a sequence, for the history triggers (dfs.commit) and ``commits``;
        refuse it if a namenode of a newer dfs upgraded the schema since this one started (read in the same
        statement: no extra round trip)."""
        version = db.execute("INSERT INTO commits (number, at)"
                             " VALUES (set_config('dfs.commit', nextval('commit_numbers')::text, true)::BIGINT, %s)"
                             " RETURNING (SELECT MAX(version) FROM schema_version)", (time.time(),)).fetchone()[0]
        if version > self._schema:
            raise SchemaChanged(f"the namespace database has schema version {version}, newer than this namenode"
                                f" knows ({self._schema}): a newer dfs upgraded it; upgrade this namenode (nothing"
                                " was done)")

    def _on_callers_clock(self, db, stamps, now):
        """The stamps are the database's clock (``gc_now()``): each becomes ``now`` less its age on that clock, so
        the grace is measured on one clock whatever the namenodes' clocks say."""
        offset = now - db.execute("SELECT gc_now()").fetchone()[0]
        return {block: None if since is None else since + offset for block, since in stamps.items()}

    def _lease_now(self, db):
        return db.execute("SELECT gc_now()").fetchone()[0]

    def disk_usage(self):
        """Bytes the database takes (``pg_database_size``), as last measured: a measure older than SIZE_EVERY
        seconds is renewed in the background, so the status page that asks never waits for the database."""
        if not self._sizing and (self._sized_at is None or time.monotonic() - self._sized_at >= SIZE_EVERY):
            self._sizing = True
            d = self.read(_database_size)
            d.addCallback(self._measured)
            d.addErrback(background_failure(log, "could not measure the namespace database"))
            d.addBoth(self._measure_done)
        return self._size

    def _measured(self, size):
        self._size, self._sized_at = size, time.monotonic()

    def _measure_done(self, _):
        self._sizing = False

    def integrity_check(self):
        """"ok", or what amcheck found wrong in a B-tree index of the namespace's tables when the database has that
        extension (``CREATE EXTENSION amcheck``); without it "ok": PostgreSQL keeps its own files consistent (its
        WAL), and data checksums, when the cluster has them, are checked on every read."""
        return self.read(_check_indexes).addErrback(_corruption)


# The inodes along a path from the root, as far as it leads (a missing name or a file ends it): each step descends
# from a directory through the entry of the next name. Parameters: the path's names (an array), and how many.
WALK = (
    f"WITH RECURSIVE walk(depth, id, type) AS (SELECT 0, id, type FROM inodes WHERE id = {ROOT}"
    " UNION ALL SELECT w.depth + 1, d.inode, i.type FROM walk AS w"
    " JOIN dirents AS d ON d.parent = w.id AND d.name = (?::text[])[w.depth + 1]"
    " JOIN inodes AS i ON i.id = d.inode WHERE w.type = 'DIRECTORY' AND w.depth < ?)"
    f" SELECT {INODE} FROM walk AS w JOIN inodes AS i ON i.id = w.id ORDER BY w.depth"
)


class _Placeholders:
    """A psycopg connection that also takes the shared SQL's ``?`` placeholders (psycopg's are ``%s``; no
    statement of this package has a ``?`` or a ``%`` of its own)."""

    def __init__(self, db):
        self._db = db

    def execute(self, query, params=None):
        return self._db.execute(query.replace("?", "%s"), params)

    def __getattr__(self, name):
        return getattr(self._db, name)


def _corruption(failure):
    failure.trap(errors.IndexCorrupted, errors.DataCorrupted)
    return str(failure.value)


def _database_size(db):
    return db.execute("SELECT pg_database_size(current_database())").fetchone()[0]


def _check_indexes(db):
    """Run amcheck's ``bt_index_check`` on every B-tree index of this schema, when the extension is installed."""
    if db.execute("SELECT 1 FROM pg_extension WHERE extname = 'amcheck'").fetchone() is None:
        return "ok"
    indexes = db.execute(
        "SELECT c.oid FROM pg_index AS x JOIN pg_class AS c ON c.oid = x.indexrelid JOIN pg_am AS a ON a.oid = c.relam"
        " WHERE a.amname = 'btree' AND c.relnamespace = current_schema()::regnamespace").fetchall()
    for (index,) in indexes:
        db.execute("SELECT bt_index_check(?, true)", (index,))
    return "ok"


def _connection_lost(error):
    """Whether ``error`` says the database could not be reached or went away (rather than refusing a statement):
    no connection in time, a connection broken (no SQLSTATE: the client saw it), or a server shutting down."""
    if isinstance(error, PoolTimeout):
        return True
    state = error.sqlstate
    return state is None or state.startswith("08") or state in ("57P01", "57P02", "57P03")


def _cluster_id(db):
    return db.execute("SELECT value FROM meta WHERE key = 'cluster_id'").fetchone()[0]


# -- schema -----------------------------------------------------------------------------------------


def upgrade(db):
    """Apply the schema files the database lacks, in order, with their version records, in one transaction under
    a lock, so namenodes starting together apply each file once. A database newer than this code is refused."""
    known = schema.scripts("postgres")
    if not db.execute("SELECT pg_try_advisory_xact_lock(%s)", (UPGRADE_LOCK,)).fetchone()[0]:
        log.info("another namenode is upgrading the namespace schema: waiting for it")
        db.execute("SELECT pg_advisory_xact_lock(%s)", (UPGRADE_LOCK,))
    db.execute(VERSION_TABLE)
    version = db.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0]
    if version > len(known):
        raise schema.SchemaTooNew(f"the namenode database has schema version {version}, newer than this dfs"
                                  f" knows ({len(known)}): run the dfs release that wrote it")
    for number, text in known[version:]:
        db.execute(text)
        db.execute("INSERT INTO schema_version (version, applied) VALUES (%s, %s)", (number, time.time()))
    db.commit()
