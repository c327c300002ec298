"""Scheduled online backups of the SQLite namespace, and the holds that make GC keep every block a kept backup names.

A backup is SQLite's online backup of the live database (one step: one consistent read, writers never wait), written
under a temporary name, checked with ``PRAGMA integrity_check``, fsynced and renamed. Before the copy starts, the
namespace holds everything alive from that commit on; once the copy is there, the hold narrows to the commits the
copy can read (its oldest kept commit to its last, and each snapshot's). The holds follow the files: at start-up
they are made to match the backups in the directory, so a backup removed by hand frees its blocks, and a restored
namespace learns the holds of backups taken after it.
"""

import calendar
import os
import re
import shutil
import sqlite3
import time

from twisted.internet import defer
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.failure import Failure

log = Logger()

NAME = re.compile(r"namespace-\d{8}T\d{6}\.\d{3}Z\.sqlite3")
TEMPORARY = ".partial"


def backup_name(seconds):
    """``namespace-20261207T031500.123Z.sqlite3``: UTC, so that names sort as the backups were taken."""
    return time.strftime("namespace-%Y%m%dT%H%M%S", time.gmtime(seconds)) + f".{int(seconds * 1000) % 1000:03d}Z.sqlite3"


def taken_at(name):
    """When the backup ``name`` began, in seconds since the epoch (its name says, to the millisecond)."""
    stamp = name.removeprefix("namespace-").removesuffix("Z.sqlite3")
    return calendar.timegm(time.strptime(stamp[:15], "%Y%m%dT%H%M%S")) + int(stamp[16:]) / 1000


def kept_backups(directory):
    """The names of the backups in ``directory``, oldest first."""
    return sorted(name for name in os.listdir(directory) if NAME.fullmatch(name))


def holds_of(path):
    """[(since, upto)] of the commits the backup at ``path`` can read: from its oldest kept commit (history before it
    was trimmed) to the last, and each of its snapshots' commits."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        oldest, last = db.execute("SELECT MIN(number), MAX(number) FROM commits").fetchone()
        snapshots = [row[0] for row in db.execute("SELECT DISTINCT commit_number FROM snapshots")]
    finally:
        db.close()
    return [(oldest, last)] + [(commit, commit) for commit in snapshots if commit < oldest]


def copy_database(source, target):
    """Copy the SQLite database ``source`` to ``target`` with the online backup API, check the copy and put it in
    place atomically. Refuses (ValueError) a copy that fails its integrity check."""
    partial = target + TEMPORARY
    try:
        live = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        copy = sqlite3.connect(partial, isolation_level=None)
        try:
            live.backup(copy)  # every page in one step: one read transaction, so one consistent state
            copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, whatever the source's mode
            verdict = copy.execute("PRAGMA integrity_check").fetchone()[0]
        finally:
            copy.close()
            live.close()
        if verdict != "ok":
            raise ValueError(f"the copy of {source} fails its integrity check: {verdict}")
        fsync_file(partial)
        os.rename(partial, target)
        sync_directory(os.path.dirname(target))
    except BaseException:
        if os.path.exists(partial):
            os.remove(partial)
        raise
    return os.path.getsize(target)


def restore(backup, db_path, now=None):
    """Put the backup ``backup`` in place of the stopped namenode's database ``db_path`` (`dfs admin
    restore-backup`): the backup is checked first; a database a namenode has open is refused (migrate's exclusive
    lock); the database replaced, with its -wal and -shm files, is kept aside as ``<db>.replaced-<time>``. Returns
    that name (None when there was no database)."""
    from dfs.namenode.namespace.migrate import Refused, exclusive_sqlite  # the CLI loads it only for this

    if not os.path.isfile(backup):
        raise Refused(f"no backup at {backup}")
    checked = sqlite3.connect(f"file:{backup}?mode=ro", uri=True)
    try:
        verdict = checked.execute("PRAGMA integrity_check").fetchone()[0]
    except sqlite3.DatabaseError as e:
        verdict = str(e)
    finally:
        checked.close()
    if verdict != "ok":
        raise Refused(f"{backup} fails its integrity check: {verdict}")
    incoming = db_path + ".restoring"
    shutil.copyfile(backup, incoming)
    aside = None
    try:
        if os.path.exists(db_path):
            with exclusive_sqlite(db_path) as replaced:  # held while the files move: no namenode opens it meanwhile
                carry_epoch(replaced.db, incoming)
                aside = db_path + time.strftime(".replaced-%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
                for suffix in ("-wal", "-shm", ""):
                    if os.path.exists(db_path + suffix):
                        os.rename(db_path + suffix, aside + suffix)
        fsync_file(incoming)
        os.rename(incoming, db_path)
    finally:
        if os.path.exists(incoming):
            os.remove(incoming)
    sync_directory(os.path.dirname(db_path))
    return aside


def carry_epoch(replaced, incoming):
    """Give the restored database the lease epoch of the one it replaces when that is newer: datanodes refuse a
    DELETE of an epoch older than one they saw, so GC would stay fenced off until they restart."""
    epoch = replaced.execute("SELECT MAX(epoch) FROM leader").fetchone()[0]
    if epoch is None:
        return
    db = sqlite3.connect(incoming, isolation_level=None)
    try:
        db.execute("INSERT INTO leader (id, holder, epoch, expires) VALUES (1, '', ?, 0) ON CONFLICT (id)"
                   " DO UPDATE SET epoch = MAX(epoch, excluded.epoch)", (epoch,))
    finally:
        db.close()


def fsync_file(path):
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def sync_directory(directory):
    fd = os.open(directory or ".", os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def reconcile_holds(store, directory):
    """Make ``store``'s holds match the backups in ``directory`` (None: no backups are kept) before GC may run: drop
    what a crash left half written and the holds of backups that are gone or never finished; hold each kept one as
    its file says. The names of the backups kept."""
    kept = []
    if directory:
        os.makedirs(directory, exist_ok=True)
        for name in os.listdir(directory):
            if name.endswith(TEMPORARY):
                os.remove(os.path.join(directory, name))
        kept = kept_backups(directory)
    held = fired_result(store.backup_holds())
    fired_result(store.release_backups([name for name in held if name not in kept]))
    # Each file says what it holds: a restored namespace has its own backup's hold as it was while the copy ran.
    fired_result(store.set_backup_holds({name: holds_of(os.path.join(directory, name)) for name in kept}))
    if directory:
        log.info("backups in {dir}: {count} kept and held", dir=directory, count=len(kept))
    return kept


class Backups:
    """Takes a backup of ``store`` (an SQLiteNamespace) into ``directory`` every ``interval`` seconds (0: only when
    asked), keeps the newest ``keep``. ``threads`` runs the copy off the reactor (None: synchronously, for tests)."""

    def __init__(self, store, directory, keep, interval, clock, threads=None):
        self.store, self.directory, self.keep, self.interval = store, directory, keep, interval
        self.clock, self.threads = clock, threads
        self.last = None  # {"name", "at", "bytes", "seconds"} of the newest backup (seconds: None if not taken here)
        self.kept = 0  # backups in the directory, as of the last backup or start
        self.failures = 0
        self.last_failure = None
        self._waiters = []  # of the backup running
        self._timer = None

    def reconcile(self):
        """Make the holds match the backups in the directory (before GC may run: see ``reconcile_holds``); the
        newest is the last backup until this process takes one."""
        kept = reconcile_holds(self.store, self.directory)
        self.kept = len(kept)
        if kept:
            self.last = {"name": kept[-1], "at": taken_at(kept[-1]), "seconds": None,
                         "bytes": os.path.getsize(os.path.join(self.directory, kept[-1]))}

    def start(self):
        if self.interval > 0:
            newest = self.last["at"] if self.last else 0.0
            self._schedule(max(0.0, newest + self.interval - time.time()))

    def stop(self):
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None

    def _schedule(self, delay):
        self._timer = self.clock.callLater(delay, self._scheduled)

    def _scheduled(self):
        d = self.take()
        d.addErrback(lambda _: None)  # logged and counted by take
        d.addBoth(lambda _: self._schedule(self.interval))

    def take(self):
        """Take a backup now (or wait for the one running): a Deferred of ``last``."""
        waiter = defer.Deferred()
        self._waiters.append(waiter)
        if len(self._waiters) == 1:
            defer.Deferred.fromCoroutine(self._take()).addBoth(self._deliver)
        return waiter

    def _deliver(self, outcome):
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.callback(outcome)

    async def _take(self):
        started = time.time()
        name = backup_name(started)
        target = os.path.join(self.directory, name)
        await self.store.hold_for_backup(name)
        try:
            size = await self._in_thread(copy_database, self.store.db_path, target)
            await self.store.set_backup_holds({name: await self._in_thread(holds_of, target)})
        except Exception as e:
            if os.path.exists(target):  # never a file without its hold
                os.remove(target)
            self.failures += 1
            self.last_failure = {"at": time.time(), "error": str(e)}
            log.error("backup {name} failed: {e}", name=name, e=e)
            await self.store.release_backups([name])
            raise
        self.last = {"name": name, "at": started, "bytes": size, "seconds": round(time.time() - started, 3)}
        log.info("backup {name} taken: {bytes} bytes in {seconds} s", **self.last)
        await self._prune()
        return self.last

    async def _prune(self):
        """Remove the oldest backups beyond ``keep``, each file before its hold (never a file without its hold)."""
        kept = kept_backups(self.directory)
        old, self.kept = kept[:-self.keep], min(len(kept), self.keep)
        for name in old:
            os.remove(os.path.join(self.directory, name))
            log.info("backup {name} removed: {keep} newer ones are kept", name=name, keep=self.keep)
        if old:
            await self.store.release_backups(old)

    def _in_thread(self, fn, *args):
        if self.threads is None:
            return defer.maybeDeferred(fn, *args)
        return deferToThreadPool(self.clock, self.threads, fn, *args)

    def describe(self):
        """What the status page and /cluster show."""
        return {"directory": self.directory, "keep": self.keep, "interval": self.interval,
                "kept": self.kept, "last": self.last, "failures": self.failures,
                "last_failure": self.last_failure}


def fired_result(d):
    """The result of a Deferred that has fired (the store runs synchronously before the reactor starts)."""
    outcome = []
    d.addBoth(outcome.append)
    if not outcome:
        raise RuntimeError("the namespace answered asynchronously before the namenode started")
    if isinstance(outcome[0], Failure):
        outcome[0].raiseException()
    return outcome[0]
