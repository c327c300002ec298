"""The trash emptier (Hadoop's Trash.Emptier): every checkpoint interval, for every user's trash, checkpoints
older than the trash interval are deleted and ``Current`` becomes a new checkpoint (dfs.trash names them).

It changes the namespace only through its ordinary operations (rename and delete), so blocks of trashed files stay
referenced until their checkpoint is deleted, and GC takes them after its grace period as for any delete.
"""

from twisted.internet import defer, task
from twisted.logger import Logger

from dfs import paths
from dfs import trash as names
from dfs.errors import AccessControlException, FileNotFound, NotADirectory
from dfs.logs import background_failure

log = Logger()

USERS = "/user"
# Hadoop gives up after this many checkpoint names taken in the same second.
MAX_ATTEMPTS = 1000


class TrashEmptier:
    """``interval``: seconds a checkpoint is kept (0: trash is off, nothing runs); ``checkpoint_interval``: seconds
    between two passes (0 or more than ``interval`` means ``interval``, as in Hadoop). Only the namenode that
    leads background work (``leadership``, a dfs.namenode.leader.Leadership; None: this one) runs passes."""

    def __init__(self, store, clock, interval, checkpoint_interval=0, safemode=None, leadership=None):
        self.store = store
        self.clock = clock
        self.interval = interval
        if not 0 < checkpoint_interval <= interval:
            checkpoint_interval = interval
        self.checkpoint_interval = checkpoint_interval
        self.safemode = safemode
        self.leadership = leadership
        self._loop = task.LoopingCall(self.run_once)
        self._loop.clock = clock
        self._first = None

    def start(self):
        """Run at every multiple of the checkpoint interval since the epoch, as Hadoop's emptier does, so a namenode
        restarted more often than the interval still makes checkpoints."""
        if self.interval > 0:
            wait = self.checkpoint_interval - self.clock.seconds() % self.checkpoint_interval
            self._first = self.clock.callLater(wait, self._loop.start, self.checkpoint_interval)

    def stop(self):
        if self._first is not None and self._first.active():
            self._first.cancel()
        if self._loop.running:
            self._loop.stop()

    def run_once(self):
        """One pass over every user's trash; a Deferred that never fails (a failure is logged)."""
        d = defer.Deferred.fromCoroutine(self._pass())
        d.addErrback(background_failure(log, "trash pass failed"))
        return d

    async def _pass(self):
        if self.safemode is not None and self.safemode.on:
            return  # no namespace change in safe mode; the next pass catches up
        if self.leadership is not None and self.leadership.epoch is None:
            return  # another namenode empties the trash
        for root, _ in await self.roots():
            await self.expunge(root)

    async def roots(self, user=None, checker=None):
        """[(trash root path, its Status)] of every user (or only ``user``) who has a trash directory; for a
        request, those its ``checker`` may see."""
        if user is not None:
            candidates = [names.root_of(user)]
        else:
            try:
                _, entries = await self.store.listing(USERS, checker=checker)
            except (FileNotFound, NotADirectory, AccessControlException):
                return []
            candidates = [f"{USERS}/{e.name}/{names.TRASH}" for e in entries or () if e.inode.is_directory]
        found = []
        for root in candidates:
            try:
                status = await self.store.status(root, checker)
            except (FileNotFound, NotADirectory, AccessControlException):
                continue
            if status.inode.is_directory:
                found.append((root, status))
        return found

    async def expunge(self, root, immediate=False, checker=None):
        """What `hadoop fs -expunge` does to one trash root: delete the checkpoints older than the interval (with
        ``immediate``: every one, the new one included) and make ``Current`` a checkpoint. A user's request passes
        its ``checker``, so it deletes only what that user may delete, as Hadoop's client-side expunge does; the
        background passes act for the cluster."""
        if not immediate:
            await self.expire(root, checker=checker)
        await self.checkpoint(root, checker)
        if immediate:
            await self.expire(root, everything=True, checker=checker)

    async def checkpoint(self, root, checker=None):
        """Rename ``Current`` to the time now; a name already taken gets ``-1``, ``-2``... The new path, or None
        when there was no ``Current``."""
        current = paths.join(root, names.CURRENT)
        base = paths.join(root, names.checkpoint_name(self.clock.seconds()))
        target = base
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                await self.store.status(current)
            except FileNotFound:
                return None
            if not await self._exists(target) and await self.store.rename(current, target, checker=checker):
                log.info("created trash checkpoint {path}", path=target)
                return target
            target = f"{base}-{attempt}"
        raise RuntimeError(f"no free checkpoint name for {base} after {MAX_ATTEMPTS} attempts")

    async def expire(self, root, everything=False, checker=None):
        """Delete the checkpoints of ``root`` older than the interval (or all of them); [their paths]."""
        try:
            _, entries = await self.store.listing(root)
        except (FileNotFound, NotADirectory):
            return []
        now, deleted = self.clock.seconds(), []
        for entry in entries or ():
            if entry.name == names.CURRENT or not entry.inode.is_directory:
                continue
            made = names.checkpoint_time(entry.name)
            if made is None:
                log.warn("unexpected item in trash: {path}; ignored", path=paths.join(root, entry.name))
                continue
            if everything or now - made > self.interval:
                path = paths.join(root, entry.name)
                await self.store.delete(path, True, checker)
                log.info("deleted trash checkpoint {path}", path=path)
                deleted.append(path)
        return deleted

    async def _exists(self, path):
        try:
            await self.store.status(path)
            return True
        except FileNotFound:
            return False
