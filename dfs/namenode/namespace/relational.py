"""The namespace's operations on a relational store, shared by the SQLite and PostgreSQL backends.

A backend subclasses ``RelationalNamespace`` and supplies its transaction runner (``run``, ``read``, ``lookup``:
each gives a function a connection whose ``execute(sql, params)`` takes ``?`` placeholders and returns rows as
tuples), its ``GREATEST`` function, how it tests membership in a list (``_in``), how it turns a stored GC stamp into
the caller's clock (``_on_callers_clock``), and its own ``disk_usage`` and ``integrity_check``. The tables are the
same on both (schema/), so the SQL is too, and one operation means one thing whatever keeps it. The operations
are mixins by concern: ``walks`` (path resolution), ``entries`` (rows made and removed), ``reads``, ``writes``,
``attributes``, ``quotas``, ``blocks`` (GC, pins, the lease), ``datanodes``, ``history`` (the past, snapshots);
``sql`` holds what they share, ``fsck`` the tree check.
Everything returned is the model (``namespace.model``): no row leaves the package. An operation given a permission
checker (dfs.namenode.permissions) calls it first, inside its own transaction, on the inodes it reads there.
"""

import time
import uuid

from twisted.internet.defer import succeed

from dfs.namenode.namespace import retries
from dfs.namenode.namespace.attributes import Attributes
from dfs.namenode.namespace.blocks import Blocks
from dfs.namenode.namespace.datanodes import Datanodes
from dfs.namenode.namespace.entries import Entries
from dfs.namenode.namespace.history import History
from dfs.namenode.namespace.model import DIRECTORY, ROOT
from dfs.namenode.namespace.quotas import Quotas
from dfs.namenode.namespace.reads import Reads
from dfs.namenode.namespace.sql import now_ms
from dfs.namenode.namespace.walks import Walks
from dfs.namenode.namespace.writes import Writes

DEFAULTS = {"replication": 3, "block_size": 64 * 1024 * 1024, "owner": "dfs", "group": "supergroup"}


def ignore(*args):
    pass


class RelationalNamespace(Reads, Writes, Attributes, Quotas, Blocks, Datanodes, Entries, Walks, History):
    """``namespace.interface.Namespace`` on the tables of schema/; a backend supplies the runner (above)."""

    GREATEST = "MAX"  # the larger of two values (SQLite's scalar max; PostgreSQL's GREATEST)
    SHARED = False  # several namenodes may share the database: the lease decides who leads (else its one namenode)

    def __init__(self, defaults=None, clock=None):
        self.clock = clock  # stamps when blocks become unreferenced
        self.defaults = dict(DEFAULTS, **(defaults or {}))
        self.cluster_id = None
        self.observe_transaction = ignore  # gets each committed transaction's duration in seconds (metrics)
        self.observe_retry = ignore  # gets each attempt refused as conflicting (PostgreSQL's; metrics, tests)

    def now(self):
        return time.time() if self.clock is None else self.clock.seconds()

    def _in(self, items):
        """(SQL, params) testing that a value is one of ``items`` (at most MAX_BATCH): `` IN (?, ...)``."""
        return f"IN ({','.join('?' * len(items))})", list(items)

    def _on_callers_clock(self, db, stamps, now):
        """``stamps`` ({block: when it became unreferenced, or None}) on the clock of the caller's ``now``."""
        return stamps

    def _lease_now(self, db):
        """The time leases are measured on: the same for every namenode that shares the database."""
        return self.now()

    def _change(self, op, checker, txn):
        """Run the change ``txn`` of WebHDFS ``op`` in a write transaction. When the request names a client
        operation (``checker.operation``), its answer is stored in the same transaction, and the same operation
        sent again gets that answer without ``txn`` running again (the retry cache: namespace.retries)."""
        operation = getattr(checker, "operation", None)
        if operation is None:
            return self.run(txn)

        def once(db):
            answer = retries.recall(db, operation, op)
            if answer is retries.FORGOTTEN:
                answer = txn(db)
                retries.remember(db, operation, op, answer, self.now())
            return answer

        return self.run(once)

    def recall(self, op, checker):
        operation = getattr(checker, "operation", None)
        if operation is None:
            return succeed(retries.FORGOTTEN)
        return self.lookup(retries.recall, operation, op)

    def trim_retries(self, before):
        return self.run(retries.trim, before)

    def _init_root(self, db):
        t = now_ms()
        db.execute("INSERT INTO inodes (id, type, mode, owner, grp, mtime, atime) VALUES (?, ?, ?, ?, ?, ?, ?)"
                   " ON CONFLICT DO NOTHING",
                   (ROOT, DIRECTORY, 0o755, self.defaults["owner"], self.defaults["group"], t, t))
        db.execute("INSERT INTO meta (key, value) VALUES ('cluster_id', ?) ON CONFLICT DO NOTHING",
                   (uuid.uuid4().hex,))
