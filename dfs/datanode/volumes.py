"""A datanode's data directories, one per disk: ``blocks/``, ``incoming/`` and ``corrupt/`` under each, and whether
the disk under one is still there."""

import os

from twisted.internet import defer
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from dfs.datanode import layout

log = Logger()


class Volume:
    """One data directory (``root``). Its methods touch the disk and belong in a thread, but ``space``."""

    def __init__(self, root):
        self.root = os.path.abspath(root)
        self.blocks_dir = os.path.join(self.root, "blocks")
        self.incoming = os.path.join(self.root, "incoming")
        self.quarantine = os.path.join(self.root, "corrupt")
        self.device = None
        self.used = 0  # bytes of the blocks held here
        self.full_at = None  # free bytes when a write here hit ENOSPC; None when not full
        self.failed = None  # why the volume went out of use, once it has
        self.layout = None  # the layout version found at start (dfs.datanode.layout)

    def prepare(self):
        """Create the folders (a new volume) and note which filesystem holds them; an OSError if it cannot, and
        LayoutTooNew, before anything is touched, if a newer dfs wrote there."""
        self.layout = layout.found(self.root)
        for folder in (self.blocks_dir, self.incoming, self.quarantine):
            os.makedirs(folder, exist_ok=True)
        self.device = os.stat(self.root).st_dev

    def path(self, block_id):
        return os.path.join(self.blocks_dir, block_id[:2], block_id)

    def space(self):
        """(capacity, free bytes) of the filesystem the volume is on."""
        st = os.statvfs(self.root)
        return st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize

    def problem(self):
        """Why the volume cannot be used any more (its folders gone or unusable, another filesystem mounted or
        unmounted under it), or None while it is sound."""
        try:
            if os.stat(self.root).st_dev != self.device:
                return f"{self.root} is on another filesystem than when the datanode started (a disk unmounted?)"
            for folder in (self.blocks_dir, self.incoming):
                os.listdir(folder)
                if not os.access(folder, os.R_OK | os.W_OK | os.X_OK):
                    return f"{folder} is not readable and writable"
        except OSError as e:
            return str(e)
        return None


class VolumeWatch:
    """Looks at the data directories of ``store`` (a BlockStore) every ``interval`` seconds, in a disk thread: the
    blocks of one that failed are forgotten, which the next heartbeat tells the namenodes (the store's
    ``on_gone_block``), and more failed than ``tolerated`` stops the datanode (``shutdown(reason)``), as HDFS's
    stops."""

    def __init__(self, store, in_thread, tolerated, shutdown, clock, interval):
        self.store, self.in_thread, self.shutdown = store, in_thread, shutdown
        self.tolerated = tolerated
        self.interval = interval
        self._loop = LoopingCall(self.check)
        self._loop.clock = clock

    def start(self):
        self._loop.start(self.interval, now=False)

    def stop(self):
        if self._loop.running:
            self._loop.stop()

    def check(self):
        d = defer.Deferred.fromCoroutine(self._check())
        d.addErrback(lambda f: log.failure("checking the data directories failed", f))
        return d

    async def _check(self):
        lost = await self.in_thread(self.store.check_volumes_sync)
        failed = self.store.failed_volumes()
        if len(failed) > self.tolerated or not self.store.in_use():
            self.stop()
            roots = ", ".join(root for root, _ in failed)
            left = "" if self.store.in_use() else ", none left"
            self.shutdown(f"{len(failed)} data director(ies) failed ({roots}), {self.tolerated} tolerated"
                          f" (--failed-volumes-tolerated){left}")
        elif lost:
            log.warn("{n} block(s) lost with a failed data directory: the next heartbeat reports them", n=len(lost))
