"""Scheduled online backups of the SQLite namespace, and the holds that make GC keep every block a kept backup names.

A backup is SQLite's online backup of the live database (one step: one consistent read, writers never wait), written
under a temporary name, checked, fsynced and renamed (``namespace.sqlite_backup``). Before the copy starts, the
namespace holds everything alive from that commit on; once the copy is there, the hold narrows to the commits the
copy can read (its oldest kept commit to its last, and each snapshot's). The holds follow the files: at start-up
they are made to match the backups in the directory, so a backup removed by hand frees its blocks, and a restored
namespace learns the holds of backups taken after it.
"""

import calendar
import os
import re
import time

from twisted.internet import defer
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.failure import Failure

from dfs.namenode.namespace.sqlite_backup import TEMPORARY, copy_database, holds_of

log = Logger()

NAME = re.compile(r"namespace-\d{8}T\d{6}\.\d{3}Z\.sqlite3")


def backup_name(seconds):
    """``namespace-20261207T031500.123Z.sqlite3``: UTC, so that names sort as the backups were taken."""
    milliseconds = int(seconds * 1000) % 1000
    return time.strftime("namespace-%Y%m%dT%H%M%S", time.gmtime(seconds)) + f".{milliseconds:03d}Z.sqlite3"


def taken_at(name):
    """When the backup ``name`` began, in seconds since the epoch (its name says, to the millisecond)."""
    stamp = name.removeprefix("namespace-").removesuffix("Z.sqlite3")
    return calendar.timegm(time.strptime(stamp[:15], "%Y%m%dT%H%M%S")) + int(stamp[16:]) / 1000


def kept_backups(directory):
    """The names of the backups in ``directory``, oldest first."""
    return sorted(name for name in os.listdir(directory) if NAME.fullmatch(name))


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
