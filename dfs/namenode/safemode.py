"""Safe mode: after a start nothing is written, copied or deleted until the datanodes have reported their blocks.

Replica locations are soft state, so a restarted namenode first relearns them. It leaves safe mode when the share of
the namespace's blocks that some datanode reported reaches the threshold (after a short extension, so that the other
replicas of those blocks are reported too and repair copies nothing needlessly), or at once when every datanode the
cluster had (stored in the database) has sent its full report: whatever is still unreported then is lost, and is
reported loudly instead of freezing the cluster. An operator may hold safe mode or end it.
"""

from itertools import islice

from twisted.internet import defer, task
from twisted.logger import Logger

from dfs.namenode.shards import ShardedSet
from dfs.namenode.steps import in_steps

log = Logger()

READ_STEP = 8192  # blocks looked up in one step of reading the namespace's blocks: 1-3 ms of the reactor


class SafeMode:
    def __init__(self, store, registry, clock, threshold=0.999, extension=3.0, on_leave=lambda: None,
                 cooperator=task):
        self.store = store
        self.cooperator = cooperator
        self.registry = registry
        self.clock = clock
        self.threshold = threshold
        self.extension = extension
        self.on_leave = on_leave
        self.on = True
        self.held = False  # entered by an operator: only an operator ends it
        self._known = {}  # datanode id -> URL, of every datanode that ever registered
        self._had = None  # the ids of those the database held at the start: the ones to wait for
        self._reported = set()  # datanodes that sent a full block report since the start
        # the namespace's blocks no datanode has reported yet (in shards: one dict of 3 x 10^6 grew on the reactor in
        # 0.1 s steps; and dicts of strs, which the cyclic collector does not walk, where a set of 10^6 would lengthen
        # each full collection); None until loaded
        self._unreported = None
        self._reading = None  # the unreported blocks found so far while the namespace's are walked
        self._total = 0
        self._exit = None
        self.lost = 0  # blocks no datanode had reported when safe mode ended

    def start(self):
        """Read which datanodes the cluster had and which blocks the namespace refers to, then judge."""
        d = defer.gatherResults([self.store.known_datanodes(), self.store.block_targets()], consumeErrors=True)
        d.addCallback(lambda loaded: self._loaded(*loaded))
        d.addErrback(lambda f: log.failure("safe mode could not read the namespace; it stays on", f))
        return d

    def stop(self):
        if self._exit is not None and self._exit.active():
            self._exit.cancel()

    def _loaded(self, known, targets):
        self._had = frozenset(known)
        self._known = {**known, **self._known}
        self._reading = ShardedSet()
        walked = defer.ensureDeferred(in_steps(self.cooperator, self._unreported_steps(targets)))
        return walked.addCallback(lambda _: self._read(len(targets)))

    def _unreported_steps(self, targets):
        """Steps (the first at once): the blocks of ``targets`` no datanode has reported, into ``_reading``, which
        reports arriving meanwhile take blocks out of. In one go this held the reactor 4 s at 3.3 x 10^6 blocks, while
        the datanodes were registering."""
        replicas, reading, walk = self.registry.replicas, self._reading, iter(targets)
        for number, chunk in enumerate(iter(lambda: list(islice(walk, READ_STEP)), [])):
            if number:
                yield
            for block_id in chunk:
                if block_id not in replicas:
                    reading.add(block_id)

    def _read(self, total):
        self._total = total
        self._unreported, self._reading = self._reading, None
        log.info("safe mode: {reported} of {total} blocks reported; {nodes} datanodes known",
                 reported=self._total - len(self._unreported), total=self._total, nodes=len(self._had))
        self._judge()

    async def remember(self, node_id, url):
        """Store a datanode that registered, so that after a restart safe mode knows to wait for it."""
        if self._known.get(node_id) != url:
            await self.store.remember_datanode(node_id, url)
            self._known[node_id] = url

    async def forget(self, node_id):
        """A datanode decommissioned: every block it held lives elsewhere, so a restart need not wait for it (it is
        remembered again if it registers again)."""
        if self._known.pop(node_id, None) is not None:
            await self.store.forget_datanode(node_id)

    def reported(self, node_id, blocks=()):
        """A datanode sent its full block report (``blocks``, or its pieces given to ``seen`` before): judge the exit
        now, not later."""
        self._reported.add(node_id)
        self.seen(blocks)

    def seen(self, blocks):
        """Blocks a datanode reported (a piece of its full report)."""
        unreported = self._unreported if self._reading is None else self._reading
        if unreported:
            for block_id in blocks:
                unreported.discard(block_id)
        self._judge()

    def _judge(self):
        if not self.on or self.held or self._unreported is None:
            return
        if not self._total:
            self._leave("the namespace refers to no block")
        elif self._had and not self._waiting_for():
            self._leave("every datanode the cluster had has sent its block report")
        elif self._reported_share() >= self.threshold and self._exit is None:
            self._exit = self.clock.callLater(self.extension, self._leave, "the reported blocks reached the threshold")

    def _reported_share(self):
        return (self._total - len(self._unreported)) / self._total if self._total else 1.0

    def _waiting_for(self):
        """The known datanodes that have not sent their full report, as (id, URL) pairs."""
        return sorted((node_id, self._known[node_id]) for node_id in self._had or () if node_id not in self._reported)

    def enter(self):
        """An operator holds safe mode: writes wait and repair copies and deletes nothing until ``leave``."""
        self.stop()
        self._exit = None
        self.on = self.held = True
        log.warn("safe mode entered by an operator")

    def leave(self):
        """An operator ends safe mode, whatever is still unreported."""
        if self.on:
            self._leave("an operator ended it")

    def _leave(self, why):
        self.stop()
        self._exit = None
        self.on = self.held = False
        missing = len(self._unreported or ())
        if missing:
            log.error("leaving safe mode ({why}) with {missing} of {total} blocks on no datanode: they are missing;"
                      " `dfs fsck` lists the files", why=why, missing=missing, total=self._total)
        else:
            log.info("leaving safe mode: {why} ({total} blocks reported)", why=why, total=self._total)
        self._unreported = ShardedSet()
        self.lost = missing
        self.on_leave()

    def reason(self):
        """Why writes wait, in one sentence (the 503 answer, the status page and `dfs safemode get`)."""
        if not self.on:
            return "off"
        if self.held:
            return "entered by an operator; `dfs safemode leave` ends it"
        if self._unreported is None:
            return "reading the namespace"
        reported = f"{self._total - len(self._unreported)} of {self._total} blocks reported"
        if self._exit is not None:
            return f"{reported}; leaving in {max(0.0, self._exit.getTime() - self.clock.seconds()):.1f} s"
        waiting = self._waiting_for()
        needed = f"{reported} ({self.threshold:.1%} needed)"
        if not waiting:
            return f"{needed}; waiting for datanodes to report their blocks"
        names = ", ".join(f"{node_id} at {url}" for node_id, url in waiting[:5])
        if len(waiting) > 5:
            names += f" and {len(waiting) - 5} more"
        plural = "s" if len(waiting) > 1 else ""
        return f"{needed}; waiting for {len(waiting)} datanode{plural} to report: {names}"

    def describe(self):
        unreported = len(self._unreported or ())
        return {
            "on": self.on,
            "held": self.held,
            "reason": self.reason(),
            "blocks": self._total,
            "reported_blocks": self._total - unreported if self._unreported is not None else 0,
            "threshold": self.threshold,
            "waiting_for": self._waiting_for_json(),
        }

    def _waiting_for_json(self):
        if not self.on:
            return []
        if self._had is None:
            return None  # not known before the database is read
        return [{"id": node_id, "url": url} for node_id, url in self._waiting_for()]
