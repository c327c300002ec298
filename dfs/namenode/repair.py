"""Keeps every block at its replication: copies under-replicated blocks, trims extra replicas, collects orphans.

The work lives in queues (dfs.namenode.repairqueue) that events update: the registry calls ``block_changed`` when a
replica appears or goes and ``node_changed`` when a node changes state, and each pass adds the blocks whose entry in
the namespace changed. Work on many blocks runs in steps a cooperator interleaves with the reactor's other work, so
the reactor is never held for long whatever the number of blocks (docs/architecture.md, "Repair").

Nothing is copied or deleted while the namenode is in safe mode (dfs.namenode.safemode), nor by a namenode that does
not lead background work (dfs.namenode.leader): its deletes carry the lease's epoch, which GC's transactions and the
datanodes check.
"""

import json
from collections import deque
from dataclasses import asdict, dataclass, field
from itertools import islice

from twisted.internet import defer, task
from twisted.logger import Logger

from dfs.errors import NotLeader
from dfs.logs import background_failure
from dfs.namenode.namespace.model import size_of, wanted_of
from dfs.namenode.placement import choose_targets, surplus
from dfs.namenode.registry import ALIVE, DEAD, DECOMMISSIONED, DECOMMISSIONING, NORMAL, STALE
from dfs.namenode.repairqueue import (COPY_LEVELS, CORRUPT, MISSING, OVER, SINGLE_RACK, UNDER_LEVELS, RepairQueues,
                                      copy_level)
from dfs.namenode.safemode import SafeMode
from dfs.namenode.shards import ShardedSet

log = Logger()

# A pass reads every block the namespace refers to (to see what changed there); with millions of blocks that takes
# seconds. The timed passes keep to this share of the namenode's time (waiting at least ``interval`` between them);
# events still kick one, and finished copies start the next ones without waiting for a pass.
PASS_SHARE = 0.05
LOST_LISTED = 100  # files named in the log when safe mode ends with blocks missing
STEP = 64  # blocks per cooperative step: a few hundred microseconds; the cooperator yields every 10 ms of steps
# Copies are throttled by the bytes each datanode sends or receives at once. A small block still costs a request
# on both nodes, so it counts as at least SMALL_COST: at most 512 small blocks in flight per node.
INFLIGHT_BYTES = 32 << 20
SMALL_COST = 64 << 10
# Blocks one request asks a target to copy from one source.
BATCH_BLOCKS = 64
BATCH_BYTES = 8 << 20
EXAMINED = 20_000  # queued blocks a round looks at, at most: the rest wait their turn at the back
# Named blocks a walk of the queues checks before its copy round, at most: after a storm of reports (10^7 replicas,
# each naming its block) copies of the blocks found short so far start within seconds, not after every check.
CHECKS_PER_WALK = 250_000
# A copy that got no answer (a timeout, a lost connection) may still land: its target is not asked for that block
# again for this long (HDFS's pending reconstruction timeout), unless it reports it first.
UNCONFIRMED_FOR = 300.0
# Block ids in one POST /blocks/delete: large enough that a tree of 100,000 files goes in seconds, small enough that
# the datanode answers each batch well within its request timeout.
DELETE_BATCH = 2048
# Seconds between GC's own looks at blocks found collectable while they wait for every datanode to be heard from;
# and its looks keep to a quarter of the time (a look reads every orphan: many blocks deleted make it long).
GC_POLL = 2.0
LOOK_SHARE = 0.25


class Repair:
    def __init__(self, store, registry, fanout, datanodes, clock, interval=3.0, grace=600.0,
                 inflight_bytes=INFLIGHT_BYTES, safemode_threshold=0.999, safemode_extension=3.0,
                 leadership=None, cooperator=None):
        self.store = store
        self.leadership = leadership  # a dfs.namenode.leader.Leadership; None: this namenode always leads
        self._epoch = None  # the lease's epoch the running pass acts under
        self.registry = registry
        self.fanout = fanout
        self.datanodes = datanodes  # a dfs.peers.DatanodeClient
        self.clock = clock
        self.interval = interval
        self.grace = grace
        self.inflight_bytes = inflight_bytes
        self.cooperator = cooperator or task  # runs long work in steps; the reactor's own by default
        self.safemode = SafeMode(store, registry, clock, safemode_threshold, safemode_extension,
                                 on_leave=self._left_safemode, cooperator=self.cooperator)
        # Replicas to delete, by node, then by the (mark, epoch) they were chosen under: each node's sender sends
        # them in batches, one request at a time, so a big tree removed never crowds out heartbeats.
        self._doomed = {}
        self._gc_candidates = []  # the blocks the last GC look found unreferenced, for the next look of GC alone
        self._gc_call = None
        self._look_took = 0.0  # how long GC's last look of its own took
        self._orphan_since = {}  # never-referenced block -> when GC first saw it
        self._doomed_at = {}  # block -> when GC first found it collectable
        self.targets = {}  # block id -> its packed target (model.block_target): the namespace's, as the last pass read
        self.queues = RepairQueues()
        self._unreferenced = ShardedSet()  # blocks some node holds that no file refers to: GC's candidates
        self._dirty = deque()  # blocks to check again (a deque grows without copying; a block may come twice)
        self._scans = deque()  # iterators of more blocks to check: a node's, or every one when the racks change
        self._racks = set()  # the racks of the writable nodes when the queues were last checked
        if registry is not None:
            registry.watcher = self
            self._scans.append(_emptied(list(registry.replicas)))  # what the registry held before it was watched
        self._copying = {}  # block id -> copies of it in flight
        self._inflight = {}  # node id -> bytes it sends or receives for copies in flight
        self._unconfirmed = {}  # block id -> {target node id: until when it is not asked again}
        self._work = defer.DeferredLock()  # one walk of the queues at a time
        self._round = None  # a copy round called for by finished copies
        self._round_due = False  # one is called for and no walk of the queues has begun since
        self._rounds = task.LoopingCall(self._copy_soon)
        self._rounds.clock = clock
        self._running = None
        self._on = False
        self._timer = None
        self._kick = None
        self.stats = {"blocks": 0, "under_replicated": 0, "missing": 0, "corrupt": 0, "over_replicated": 0, "orphans": 0,
                      "single_rack": 0, "copies_in_flight": 0, "copies_done": 0, "deletions_done": 0,
                      "unreachable_inodes": 0}

    # -- what the registry tells --------------------------------------------------------------------

    def block_changed(self, block_id):
        """A replica of ``block_id`` appeared or went (a report, a copy, a delete, a corrupt copy)."""
        self._dirty.append(block_id)

    def node_changed(self, node_id):
        """``node_id`` changed state (stale, dead, alive again, draining, its rack): check each of its blocks."""
        node = self.registry.nodes.get(node_id)
        if node is not None and not node.holdings_known:
            self._scans.append(_ReadWalk(self.targets))  # it counted for every block (in maintenance, not yet reported)
        elif node is not None and node.blocks:
            self._scans.append(blocks_of(node))

    # -- passes ------------------------------------------------------------------------------------

    def start(self):
        self._on = True
        self._timed_pass()
        # A pass reads the whole namespace and may come minutes apart at millions of blocks; the queues are served
        # every interval all the same, so a node's death is acted on within seconds.
        self._rounds.start(self.interval, now=False)

    def stop(self):
        self._on = False
        self.safemode.stop()
        if self._rounds.running:
            self._rounds.stop()
        for call in (self._timer, self._kick, self._round, self._gc_call):
            if call is not None and call.active():
                call.cancel()

    def _timed_pass(self):
        started = self.clock.seconds()
        d = self.run_once()
        d.addBoth(lambda _: self._schedule(self.clock.seconds() - started))

    def _schedule(self, took):
        if self._on:
            self._timer = self.clock.callLater(max(self.interval, took / PASS_SHARE), self._timed_pass)

    def _left_safemode(self):
        self.kick()  # the queues were kept in safe mode: copies can start at once
        if self.safemode.lost:
            d = defer.Deferred.fromCoroutine(self._report_lost())
            d.addErrback(lambda f: log.failure("could not list the files whose blocks are missing", f))

    async def _report_lost(self):
        """Name the files whose blocks no datanode reported (a restored backup that names blocks gone since, disks
        lost while the namenode was down): fsck of /, in the log."""
        report = await self.fsck("/")
        lost = [f for f in report["files"] if f["status"] in ("missing", "corrupt")]
        for entry in lost[:LOST_LISTED]:
            gone = sum(b["state"] in ("missing", "corrupt") for b in entry["blocks"])
            log.error("fsck: {path} has {gone} of its {blocks} blocks on no datanode", path=entry["path"], gone=gone,
                      blocks=len(entry["blocks"]))
        more = f"; {len(lost) - LOST_LISTED} more: `dfs fsck /` lists them all" if len(lost) > LOST_LISTED else ""
        log.error("fsck after safe mode: {count} files have blocks on no datanode{more}", count=len(lost), more=more)

    def kick(self):
        """Run a pass soon (after a replication change or a node event) instead of waiting for the timer."""
        if self._kick is None or not self._kick.active():
            self._kick = self.clock.callLater(0.1, self.run_once)

    def run_once(self):
        """The running pass, or a new one: a Deferred that fires when it is over (never with an error)."""
        if self._running is None:
            running = self._running = defer.Deferred.fromCoroutine(self._pass())
            running.addErrback(background_failure(log, "repair pass failed"))
            running.addBoth(self._done)
            return running
        return self._running

    def _done(self, _):
        self._running = None

    def _leading(self):
        return self.leadership is None or self.leadership.epoch is not None

    def leader_epoch(self):
        """The epoch of the lease under which this namenode leads background work; None when another leads."""
        return None if self.leadership is None else self.leadership.epoch

    async def _pass(self):
        if not self._leading():
            await self._work_queues()  # another namenode leads background work: only keep the queues current
            return
        self._epoch = self.leader_epoch()
        try:
            await self._repair()
        except NotLeader as e:
            log.info("repair pass stopped: {e}", e=e)

    async def _repair(self):
        marks = {node.id: node.mark for node in self.registry.nodes.values()}  # taken before anything is read
        targets = await self.store.block_targets()
        now = self.clock.seconds()
        await self._work_queues(targets, marks)
        orphans = await self._collect_orphans(list(self._unreferenced), now, marks)
        if orphans == 0 and not self._checks_pending():  # a block not yet checked may be one a node holds
            await self.store.forget_unreferenced_blocks(now, self._epoch)
        detached = await self.store.namespace_problems()
        self.stats.update(blocks=len(targets), orphans=orphans, unreachable_inodes=sum(p.inodes for p in detached))

    def _walk(self, steps):
        """Run the generator ``steps`` to its end in cooperative steps; a Deferred of its end."""
        return self.cooperator.cooperate(steps).whenDone()

    def _read_targets(self, targets):
        """Take the namespace's blocks as just read: check those whose entry is new, changed or gone since the last
        read (every one at the first), or every one when the racks that take writes changed (steps)."""
        old, self.targets = self.targets, targets
        racks = self._writable_racks()
        if racks != self._racks or not old:
            self._racks = racks
            self._scans.append(_ReadWalk(targets))
        if not old:
            return
        changed = deque()
        for entries in (iter(targets.items()), iter(old.items())):
            while chunk := list(islice(entries, STEP * 16)):
                changed.extend(block_id for block_id, target in chunk
                               if old.get(block_id) != target or block_id not in targets)
                yield
        self._scans.append(iter(changed))
        # Freed at once, the last read held the reactor for 0.17 s of CPU at 3.3 x 10^6 blocks: let it go in steps,
        # unless it is still in use: read again as it was, or walked by a scan (it goes with that scan's end).
        if old is not targets and not any(isinstance(scan, _ReadWalk) and scan.targets is old for scan in self._scans):
            yield from _released(old)

    async def _work_queues(self, targets=None, marks=None):
        """One walk of the queues at a time: take the namespace's blocks a pass read (``targets``), check the blocks
        events named, start copies; in a pass, trim (with ``marks``) and follow the draining nodes."""
        await self._work.acquire()
        self._round_due = False
        try:
            self.registry.update_states()  # a node turned stale or dead calls node_changed
            if targets is not None:
                await self._walk(self._read_targets(targets))
            await self._walk(self._check_named())
            if not self.safemode.on and self._leading():
                await self._walk(self._copy_queued())
                if marks is not None:
                    self._trim_queued(marks)
            if targets is not None:
                await self._walk(self._update_decommissions())
            self.stats.update(under_replicated=self.queues.count(*UNDER_LEVELS), missing=self.queues.count(MISSING),
                              corrupt=self.queues.count(CORRUPT), over_replicated=self.queues.count(OVER),
                              single_rack=self.queues.count(SINGLE_RACK), copies_in_flight=len(self._copying))
        finally:
            self._work.release()

    def _checks_pending(self):
        """Whether some named block waits for its check: until none does, the queues may miss a short block."""
        return bool(self._dirty or self._scans)

    def _check_named(self):
        """Check the blocks named by events and scans, up to CHECKS_PER_WALK of them; the rest wait for the next
        walk (steps)."""
        checked = 0
        while self._checks_pending() and checked < CHECKS_PER_WALK:
            if self._dirty:
                count = min(STEP, len(self._dirty))
                for _ in range(count):
                    self._check(self._dirty.popleft())
            else:
                chunk = list(islice(self._scans[0], STEP))
                if not chunk:
                    self._scans.popleft()
                for block_id in chunk:
                    self._check(block_id)
                count = len(chunk)
            checked += count
            yield

    def _check(self, block_id):
        """Put ``block_id`` in the queue its replicas call for, or in none."""
        target = self.targets.get(block_id)
        if target is None:
            self.queues.put(block_id, None)  # no file refers to it: GC's, not repair's
            if block_id in self.registry.replicas:
                self._unreferenced.add(block_id)
            else:
                self._unreferenced.discard(block_id)
            return
        self._unreferenced.discard(block_id)
        wanted = wanted_of(target)
        sources, counted, keepers = self._replicas(block_id)
        if not sources and not counted:
            level = CORRUPT if self.registry.corrupt.get(block_id) else MISSING
        elif len(counted) < wanted:
            level = copy_level(len(counted), wanted)
        else:
            self.registry.corrupt.pop(block_id, None)
            if len(keepers) > wanted:
                level = OVER
            elif _in_one_rack(counted, wanted, self._racks):
                level = SINGLE_RACK  # one more copy on another rack; then a trim where they crowd
            else:
                level = None
        self.queues.put(block_id, level)

    def _replicas(self, block_id):
        """(readable sources, replicas that count toward replication, replicas that may be trimmed), by the node
        states the registry last updated.

        A stale node still counts (flapping must not cause copies) but is no source; a decommissioning node is a
        source but does not count, so its blocks are copied elsewhere before it is released. A node in maintenance
        counts even when silent, as long as the block keeps the minimum in service (registry), and is never trimmed.
        """
        nodes = [self.registry.nodes[i] for i in self.registry.replicas.get(block_id, ())]
        alive = [n for n in nodes if n.state == ALIVE]
        keepers = [n for n in alive if n.admin == NORMAL]
        counted = keepers + [n for n in nodes if n.state == STALE and n.admin == NORMAL]
        counted += self.registry.counted_in_maintenance(block_id, counted)
        return alive, counted, keepers

    def _writable_racks(self):
        return {n.rack for n in self.registry.writable()}

    def _update_decommissions(self):
        """Count the blocks each draining node holds that still lack replicas elsewhere; release it at none (steps:
        the under-replicated queues may be long)."""
        draining = {n.id: n for n in self.registry.nodes.values() if n.admin == DECOMMISSIONING and n.state != DEAD}
        if not draining:
            return
        in_service = len(self.registry.writable())
        pending = dict.fromkeys(draining, 0)
        stuck = dict.fromkeys(draining, 0)
        waiting = self.queues.walk(*UNDER_LEVELS, MISSING, CORRUPT)  # unchanged while the walk holds the lock
        while chunk := list(islice(waiting, STEP)):
            for block_id in chunk:
                wanted = wanted_of(self.targets[block_id])
                for node_id in self.registry.replicas.get(block_id, ()):
                    if node_id in pending:
                        pending[node_id] += 1
                        stuck[node_id] += wanted > in_service
            yield
        for node_id, node in draining.items():
            node.decommission_pending = pending[node_id]
            node.decommission_blocked = None if not stuck[node_id] else (
                f"cannot finish: {stuck[node_id]} of its blocks need more replicas than the {in_service} datanode(s)"
                " in service can hold; add a datanode or lower their replication (dfs setrep)")
            if pending[node_id] == 0 and not self._checks_pending():  # a block not yet checked may still be short
                node.admin = DECOMMISSIONED
                log.info("datanode {node} is decommissioned: every block it held is replicated elsewhere",
                         node=node.id)
                defer.ensureDeferred(self.safemode.forget(node.id)).addErrback(
                    lambda f: log.failure("could not forget a decommissioned datanode", f))

    def _copy_queued(self):
        """Start copies for the queued blocks, most urgent first, while datanodes have bytes to spare; blocks from
        one source to one target go in one request (steps)."""
        writable = self.registry.writable()
        batches = {}  # (source id, target id) -> blocks to copy, in one request
        for block_id in self.queues.blocks(*COPY_LEVELS, limit=EXAMINED):
            if all(self._inflight.get(n.id, 0) >= self.inflight_bytes for n in writable):
                break  # every target is busy: copies that end start the next round
            self._plan_copy(block_id, writable, batches)
            yield
        for (source, target), batch in batches.items():
            self._send(source, target, batch)

    def _plan_copy(self, block_id, writable, batches):
        if block_id in self._copying or self.queues.level_of(block_id) is None:
            return
        self.queues.to_back(block_id)  # served or not, the blocks behind it come first next round
        target = self.targets[block_id]
        wanted, size = wanted_of(target), size_of(target)
        cost = max(size, SMALL_COST)
        sources, counted, _ = self._replicas(block_id)
        sources = [n for n in sources if self._has_room(n, cost)]
        if not sources:
            return
        if self.queues.level_of(block_id) == SINGLE_RACK:
            if not _in_one_rack(counted, wanted, self._racks):
                return  # no longer: the event that changed it has it checked again
            count, crowded = 1, counted[0].rack
            candidates = [n for n in writable if n.rack != crowded and self._has_room(n, cost)]
        else:
            count = wanted - len(counted)
            candidates = [n for n in writable if self._has_room(n, cost)]
        exclude = set(self.registry.replicas.get(block_id, ())) | self._unconfirmed_targets(block_id)
        targets = choose_targets(candidates, count, size, exclude=exclude, placed=counted)
        if not targets:
            return
        source = min(sources, key=lambda n: self._inflight.get(n.id, 0))
        self._copying[block_id] = len(targets)
        for target in targets:
            for node in (source, target):
                self._inflight[node.id] = self._inflight.get(node.id, 0) + cost
            batch = batches.setdefault((source, target), [])
            batch.append((block_id, cost))
            if len(batch) >= BATCH_BLOCKS or sum(c for _, c in batch) >= BATCH_BYTES:
                self._send(source, target, batches.pop((source, target)))

    def _has_room(self, node, cost):
        """Whether ``node`` may send or receive ``cost`` more bytes of copies (one block at least, however big)."""
        busy = self._inflight.get(node.id, 0)
        return busy == 0 or busy + cost <= self.inflight_bytes

    def _unconfirmed_targets(self, block_id):
        """The nodes a copy of ``block_id`` was sent to that neither confirmed nor refused it, lately."""
        sent = self._unconfirmed.get(block_id)
        if not sent:
            return set()
        now = self.clock.seconds()
        for node_id in [n for n, until in sent.items() if until <= now]:
            del sent[node_id]
        if not sent:
            del self._unconfirmed[block_id]
        return set(sent)

    def _send(self, source, target, batch):
        until = self.clock.seconds() + UNCONFIRMED_FOR
        for block_id, _ in batch:
            self._unconfirmed.setdefault(block_id, {})[target.id] = until
        d = defer.Deferred.fromCoroutine(self._copy_batch(source, target, [block_id for block_id, _ in batch]))
        d.addErrback(lambda f: log.failure("a copy batch failed", f) or 0)
        d.addCallback(lambda copied: self._batch_over(source, target, batch, copied))

    async def _copy_batch(self, source, target, block_ids):
        """Ask ``target`` to copy ``block_ids`` from ``source``; how many it copied."""
        outcomes = await copy_blocks(self.datanodes, source, target, block_ids)
        return sum(self._copied(block_id, source, target, error) for block_id, error in outcomes.items())

    def _copied(self, block_id, source, target, error):
        """``target`` answered for its copy of ``block_id``: it holds it, or it failed with ``error``; whether it
        holds it."""
        self._confirmed(block_id, target)
        if error is not None:
            log.warn("copy of {block} to {node} failed: {error}", block=block_id, node=target.id, error=error)
            return False
        self.registry.add_replica(block_id, target.id)
        self.stats["copies_done"] += 1
        log.info("re-replicated {block} from {src} to {dst}", block=block_id, src=source.id, dst=target.id)
        return True

    def _confirmed(self, block_id, target):
        sent = self._unconfirmed.get(block_id, {})
        sent.pop(target.id, None)
        if not sent:
            self._unconfirmed.pop(block_id, None)

    def _batch_over(self, source, target, batch, copied):
        for block_id, cost in batch:
            for node in (source, target):
                self._inflight[node.id] -= cost
            self._copying[block_id] -= 1
            if not self._copying[block_id]:
                del self._copying[block_id]
            self.block_changed(block_id)
        self.stats["copies_in_flight"] = len(self._copying)
        if copied:  # else the next timed round tries again: a datanode failing every copy must not make this spin
            self._copy_soon()

    def _copy_soon(self):
        """Serve the queues now: nodes have room again, or a round is due."""
        if self._on and not self._round_due:
            self._round_due = True
            self._round = self.clock.callLater(0, self._copy_round)

    def _copy_round(self):
        d = defer.Deferred.fromCoroutine(self._work_queues())
        d.addErrback(background_failure(log, "repair copy round failed"))

    def _trim_queued(self, marks):
        """Trim the over-replicated blocks (their deletes go in batches, as GC's do)."""
        for block_id in self.queues.blocks(OVER, limit=EXAMINED):
            self.queues.to_back(block_id)
            wanted = wanted_of(self.targets[block_id])
            keepers = self._replicas(block_id)[2]
            if len(keepers) > wanted:
                self._trim(block_id, keepers, len(keepers) - wanted, marks)

    async def _collect_orphans(self, candidates, now, marks):
        """Delete the replicas of those of ``candidates`` no file refers to, on a complete view only
        (docs/architecture.md, "Garbage collection"): unreferenced for the grace period, unpinned (read after
        ``marks`` were taken), and every live datanode heard from since the block was found collectable. Returns
        the orphan count."""
        view = await self.store.collectable(candidates, now, self._epoch)
        for seen in (self._orphan_since, self._doomed_at):
            for block_id in [b for b in seen if b not in view]:
                del seen[block_id]
        heard_from = min((node.last_seen for node in self.registry.alive()), default=now)
        grace_ends, waiting = [], False
        for block_id, since in view.items():
            if since is None:
                since = self._orphan_since.setdefault(block_id, now)
            if now - since < self.grace:
                grace_ends.append(since + self.grace)
                continue
            if block_id in self.fanout.pins:
                continue
            doomed_at = self._doomed_at.setdefault(block_id, now)
            if heard_from <= doomed_at or self.safemode.on:
                waiting = True
                continue
            for node in self.registry.holders(block_id, ALIVE):
                self._delete(block_id, node, marks.get(node.id))
        self._send_doomed()
        self._look_again(list(view), min(grace_ends, default=None), waiting)
        return len(view)

    def _look_again(self, candidates, grace_ends, waiting):
        """Have GC alone look at ``candidates`` again when the first grace among them ends, and every GC_POLL
        seconds while blocks found collectable are ``waiting`` for the datanodes: with many blocks the next full
        pass may be minutes away (PASS_SHARE), and a deleted tree's blocks should not wait for it."""
        self._gc_candidates = candidates
        now = self.clock.seconds()
        due = [t for t in (grace_ends, now + GC_POLL if waiting else None) if t is not None]
        if not self._on or not due:
            return
        when = max(min(due), now + self._look_took / LOOK_SHARE)
        if self._gc_call is not None and self._gc_call.active():
            if self._gc_call.getTime() <= when:
                return
            self._gc_call.cancel()
        self._gc_call = self.clock.callLater(when - now, self._look)

    def _look(self):
        if self._running is not None:
            return  # a pass is running: it looks at them at its end
        running = self._running = defer.Deferred.fromCoroutine(self._gc_alone())
        running.addErrback(background_failure(log, "GC pass failed"))
        running.addBoth(self._done)

    async def _gc_alone(self):
        if not self._leading():
            return
        self._epoch = self.leader_epoch()
        marks = {node.id: node.mark for node in self.registry.nodes.values()}  # taken before anything is read
        started = self.clock.seconds()
        try:
            await self._collect_orphans(self._gc_candidates, started, marks)
        except NotLeader as e:
            log.info("GC stopped: {e}", e=e)
        finally:
            self._look_took = self.clock.seconds() - started

    def _trim(self, block_id, holders, count, marks):
        """Drop ``count`` extra replicas, keeping the racks they span (dfs.namenode.placement.surplus)."""
        for node in surplus(holders, count):
            self._delete(block_id, node, marks.get(node.id))

    def _delete(self, block_id, node, mark, epoch=None):
        """Queue the deletion of ``node``'s replica unless the node stored or confirmed the block after ``mark``
        (what the node last reported before this pass read the database): an upload it served since then may need
        it. The queues go out at the end of the pass (``_send_doomed``)."""
        if mark is None or not self._leading():
            return False  # the node has not reported a mark yet, or this namenode's lease ran out during the pass
        self.registry.remove_replica(block_id, node.id)
        queued = self._doomed.setdefault(node.id, _Doomed(node))
        queued.batches.setdefault((mark, self._epoch if epoch is None else epoch), []).append(block_id)
        return True

    def delete_replicas(self, node, block_ids, mark):
        """Delete replicas of ``node`` now (a balancer's moves), as ``_delete`` does, in batches: a Deferred that fires
        once ``node`` answered (a replica it kept is listed again), or None when they may not be deleted."""
        epoch = self.leader_epoch()
        # _delete refuses all or none: it looks only at the mark and the lease.
        if not all([self._delete(block_id, node, mark, epoch) for block_id in block_ids]):
            return None
        answered = defer.Deferred()
        self._doomed[node.id].answered.append(answered)
        self._send_doomed()
        return answered

    def _send_doomed(self):
        """Start a sender for each node with deletions queued and none running (a running one takes the new ones)."""
        for node_id, queued in list(self._doomed.items()):
            if not queued.sending:
                queued.sending = True
                d = defer.Deferred.fromCoroutine(self._send_deletes(queued))
                d.addErrback(background_failure(log, f"deletes on {node_id} failed"))

    async def _send_deletes(self, queued):
        node, batches = queued.node, queued.batches
        try:
            while batches:
                (mark, epoch), block_ids = next(iter(batches.items()))
                batch = block_ids[:DELETE_BATCH]
                if len(block_ids) > DELETE_BATCH:
                    batches[(mark, epoch)] = block_ids[DELETE_BATCH:]
                else:
                    del batches[(mark, epoch)]
                if self.leader_epoch() != epoch:  # the lease ran out or changed hands since the pass chose them
                    self._keep(node, batch)
                    continue
                try:
                    await self._send_batch(node, batch, mark, epoch)
                except Exception as e:  # the node's next block report tells what it still holds
                    log.warn("delete of {count} blocks on {node} failed: {e}", count=len(batch), node=node.id, e=e)
        finally:
            del self._doomed[node.id]
            for answered in queued.answered:
                answered.callback(None)

    async def _send_batch(self, node, block_ids, mark, epoch):
        response = await self.datanodes.delete_many(node.url, block_ids, mark, epoch)
        body = await response.content()
        if response.code in (404, 405):  # a datanode of the previous release: one DELETE a block
            for block_id in block_ids:
                await self._send_one(node, block_id, mark, epoch)
            return
        if response.code >= 300:
            if response.code == 409:
                self._keep(node, block_ids)  # a newer leader has deleted on this node
            log.warn("datanode {node} deleted none of {count} blocks: {code} {why}", node=node.id,
                     count=len(block_ids), code=response.code, why=body.decode("utf-8", "replace")[:300])
            return
        outcome = json.loads(body)
        self._keep(node, outcome["kept"])
        if outcome["kept"]:
            log.info("datanode {node} kept {count} blocks stored since mark {mark}", node=node.id,
                     count=len(outcome["kept"]), mark=mark)
        self.stats["deletions_done"] += len(block_ids) - len(outcome["kept"]) - len(outcome["missing"])

    async def _send_one(self, node, block_id, mark, epoch):
        response = await self.datanodes.delete(node.url, block_id, mark, epoch)
        body = await response.content()
        if response.code == 409:
            self._keep(node, [block_id])  # stored again since the mark, or a newer leader
            log.info("datanode {node} kept {block}: {why}", node=node.id, block=block_id,
                     why=body.decode("utf-8", "replace")[:300])
        elif response.code < 300:
            self.stats["deletions_done"] += 1

    def _keep(self, node, block_ids):
        for block_id in block_ids:
            self.registry.add_replica(block_id, node.id)

    async def wipe_datanodes(self):
        self.registry.forget_all_blocks()
        self._orphan_since.clear()
        self._unreferenced.clear()
        self._dirty.clear()
        self._scans.clear()
        self.queues.clear()
        answers = [
            self.datanodes.format(n.url).addCallback(lambda r: r.content())
            for n in self.registry.alive()
        ]
        await defer.DeferredList(answers, consumeErrors=True)

    async def fsck(self, path):
        files = await self.store.walk_files(path)
        self.registry.update_states()
        totals = {"files": len(files), "blocks": 0, "healthy": 0, "under_replicated": 0, "missing": 0, "corrupt": 0,
                  "single_rack": 0}
        racks = self._writable_racks()
        report = []
        for file_path, inode, extents in files:
            blocks = []
            for ext in extents:
                if ext.block_id is None:  # a hole: no block to have
                    continue
                sources, counted, _ = self._replicas(ext.block_id)
                bad = sorted(self.registry.corrupt.get(ext.block_id, ()))
                if not sources and not counted:
                    state = "corrupt" if bad else "missing"
                elif len(counted) < inode.replication:
                    state = "under_replicated"
                else:
                    state = "healthy"
                totals["blocks"] += 1
                totals[state] += 1
                one_rack = state == "healthy" and _in_one_rack(counted, inode.replication, racks)
                totals["single_rack"] += one_rack
                blocks.append({"id": ext.block_id, "length": ext.length, "state": state, "single_rack": one_rack,
                               "racks": sorted({n.rack for n in counted}),
                               "replicas": sorted(n.id for n in sources),
                               "stale": sorted(n.id for n in counted if n.state == STALE), "corrupt": bad})
            states = {b["state"] for b in blocks}
            status = next((s for s in ("corrupt", "missing", "under_replicated") if s in states), "healthy")
            report.append({"path": file_path, "size": inode.size, "replication": inode.replication,
                           "status": status, "blocks": blocks})
        # Pieces of the namespace that no path reaches lie under no path but the root's.
        detached = await self.store.namespace_problems() if path == "/" else []
        totals["unreachable_inodes"] = sum(p.inodes for p in detached)
        healthy = totals["missing"] == 0 and totals["corrupt"] == 0 and not detached
        totals["status"] = "HEALTHY" if healthy else "CORRUPT"
        return {"path": path, "totals": totals, "files": report, "namespace": [asdict(p) for p in detached]}


async def copy_blocks(datanodes, source, target, block_ids):
    """Ask ``target`` to copy ``block_ids`` from ``source`` in one request (one per block for a datanode too old to
    take batches): {block id: None if ``target`` holds it now, else why not}. A block left out got no answer: its
    copy may still land."""
    try:
        response = await datanodes.fetch_many(target.url, block_ids, source.url)
        body = await response.content()
    except Exception as e:
        log.warn("copy of {count} blocks to {node} got no answer: {e}", count=len(block_ids), node=target.id, e=e)
        return {}
    if response.code in (404, 405):  # a datanode of the previous release
        outcomes = {}
        for block_id in block_ids:
            outcomes.update(await _copy_one(datanodes, source, target, block_id))
        return outcomes
    if response.code >= 300:
        return dict.fromkeys(block_ids, f"{response.code} {body[:200]}")
    return {answer["id"]: answer.get("error") for answer in json.loads(body)["blocks"]}


async def _copy_one(datanodes, source, target, block_id):
    try:
        response = await datanodes.fetch(target.url, block_id, source.url)
        body = await response.content()
    except Exception as e:
        log.warn("copy of {block} to {node} got no answer: {e}", block=block_id, node=target.id, e=e)
        return {}
    return {block_id: None if response.code < 300 else f"{response.code} {body[:200]}"}


def blocks_of(node):
    """The blocks ``node`` holds, one at a time. Its set is walked in place, as a copy of a million ids would hold
    the reactor for tens of milliseconds; if the set changes during the walk, the rest of the walk is over a copy."""
    blocks, edits, walk = node.blocks, node.edits, iter(node.blocks)
    while chunk := list(islice(walk, STEP)):
        yield from chunk
        if blocks is not None and (node.blocks is not blocks or node.edits != edits):
            blocks, walk = None, iter(list(node.blocks))


class _ReadWalk:
    """The blocks of one read of the namespace's targets, one at a time: a scan that names the read it walks, so
    that the read is not emptied under it."""

    def __init__(self, targets):
        self.targets = targets
        self._ids = iter(targets)

    def __iter__(self):
        return self

    def __next__(self):
        return next(self._ids)


def _released(entries):
    """Empty the dict ``entries`` a few thousand entries at a time (steps)."""
    while entries:
        for _ in range(min(STEP * 64, len(entries))):
            entries.popitem()
        yield


def _emptied(blocks):
    """The items of the list ``blocks``, one at a time, shortening it as they go: freeing a million at once would
    hold the reactor for tens of milliseconds."""
    while blocks:
        chunk = blocks[-STEP:]
        del blocks[-STEP:]
        yield from chunk


@dataclass
class _Doomed:
    """The replicas a node is to delete: block ids by the (mark, epoch) they were chosen under."""

    node: object
    batches: dict = field(default_factory=dict)
    sending: bool = False  # a sender runs, and takes what is queued meanwhile
    answered: list = field(default_factory=list)  # Deferreds fired when the sender has sent all


def _in_one_rack(replicas, wanted, racks):
    """Whether a block that should have ``wanted`` copies holds them all in one rack while the datanodes that take
    writes span the ``racks`` (HDFS: mis-replicated): losing that rack would lose the block."""
    return wanted > 1 and len(racks) > 1 and len({n.rack for n in replicas}) == 1
