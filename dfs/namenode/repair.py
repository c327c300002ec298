"""Keeps every block at its replication: copies under-replicated blocks, trims extra replicas, collects orphans.

Nothing is copied or deleted while the namenode is in safe mode (dfs.namenode.safemode), nor by a namenode that does
not lead background work (dfs.namenode.leader): its deletes carry the lease's epoch, which GC's transactions and the
datanodes check.
"""

import json
from dataclasses import asdict, dataclass, field

from twisted.internet import defer
from twisted.logger import Logger

from dfs.errors import NotLeader
from dfs.logs import background_failure
from dfs.namenode.placement import choose_targets, surplus
from dfs.namenode.registry import ALIVE, DEAD, DECOMMISSIONED, DECOMMISSIONING, NORMAL, STALE
from dfs.namenode.safemode import SafeMode

log = Logger()

# A pass walks every block the namespace refers to; with millions of blocks that takes seconds. The timed passes
# keep to this share of the namenode's time (waiting at least ``interval`` between them); events still kick one.
PASS_SHARE = 0.05
LOST_LISTED = 100  # files named in the log when safe mode ends with blocks missing
# Block ids in one POST /blocks/delete: large enough that a tree of 100,000 files goes in seconds, small enough that
# the datanode answers each batch well within its request timeout.
DELETE_BATCH = 2048
# Seconds between GC's own looks at blocks found collectable while they wait for every datanode to be heard from;
# and its looks keep to a quarter of the time (a look reads every orphan: many blocks deleted make it long).
GC_POLL = 2.0
LOOK_SHARE = 0.25


class Repair:
    def __init__(self, store, registry, fanout, datanodes, clock, interval=3.0, grace=600.0,
                 copies_per_node=4, safemode_threshold=0.999, safemode_extension=3.0, leadership=None):
        self.store = store
        self.leadership = leadership  # a dfs.namenode.leader.Leadership; None: this namenode always leads
        self._epoch = None  # the lease's epoch the running pass acts under
        self.registry = registry
        self.fanout = fanout
        self.datanodes = datanodes  # a dfs.peers.DatanodeClient
        self.clock = clock
        self.interval = interval
        self.grace = grace
        self.copies_per_node = copies_per_node
        self.safemode = SafeMode(store, registry, clock, safemode_threshold, safemode_extension,
                                 on_leave=self._left_safemode)
        # Replicas to delete, by node, then by the (mark, epoch) they were chosen under: each node's sender sends
        # them in batches, one request at a time, so a big tree removed never crowds out heartbeats.
        self._doomed = {}
        self._gc_candidates = []  # the blocks the last GC look found unreferenced, for the next look of GC alone
        self._gc_call = None
        self._look_took = 0.0  # how long GC's last look of its own took
        self._orphan_since = {}  # never-referenced block -> when GC first saw it
        self._doomed_at = {}  # block -> when GC first found it collectable
        self._copying = set()
        self._busy_nodes = {}
        self._running = None
        self._on = False
        self._timer = None
        self._kick = None
        self.stats = {"blocks": 0, "under_replicated": 0, "missing": 0, "corrupt": 0, "over_replicated": 0, "orphans": 0,
                      "single_rack": 0, "copies_in_flight": 0, "copies_done": 0, "deletions_done": 0,
                      "unreachable_inodes": 0}

    def start(self):
        self._on = True
        self._timed_pass()

    def stop(self):
        self._on = False
        self.safemode.stop()
        for call in (self._timer, self._kick, self._gc_call):
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
        self.kick()
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
            return  # another namenode leads background work
        self._epoch = self.leader_epoch()
        try:
            await self._repair()
        except NotLeader as e:
            log.info("repair pass stopped: {e}", e=e)

    async def _repair(self):
        marks = {node.id: node.mark for node in self.registry.nodes.values()}  # taken before anything is read
        targets = await self.store.block_targets()
        self.registry.update_states()
        now = self.clock.seconds()
        under = missing = corrupt = over = single_rack = 0
        racks = self._writable_racks()
        for block_id, (wanted, size) in targets.items():
            sources, counted, keepers = self._replicas(block_id)
            if not sources and not counted:
                if self.registry.corrupt.get(block_id):
                    corrupt += 1
                else:
                    missing += 1
            elif len(counted) < wanted:
                under += 1
                if sources and not self.safemode.on:
                    self._copy(block_id, size, sources, counted, wanted - len(counted))
            else:
                self.registry.corrupt.pop(block_id, None)
                if len(keepers) > wanted:
                    over += 1
                    if not self.safemode.on:
                        self._trim(block_id, keepers, len(keepers) - wanted, marks)
                elif _in_one_rack(counted, wanted, racks):
                    single_rack += 1  # one more copy on another rack; the next pass trims one where they crowd
                    if sources and not self.safemode.on:
                        its_rack = counted[0].rack
                        self._copy(block_id, size, sources, counted, 1, lambda n: n.rack != its_rack)
        self._update_decommissions(targets)
        orphans = await self._collect_orphans([b for b in self.registry.replicas if b not in targets], now, marks)
        if orphans == 0:
            await self.store.forget_unreferenced_blocks(now, self._epoch)
        detached = await self.store.namespace_problems()
        self.stats.update(blocks=len(targets), under_replicated=under, missing=missing, corrupt=corrupt,
                          over_replicated=over, single_rack=single_rack, orphans=orphans, copies_in_flight=len(self._copying),
                          unreachable_inodes=sum(p.inodes for p in detached))

    def _replicas(self, block_id):
        """(readable sources, replicas that count toward replication, replicas that may be trimmed).

        A stale node still counts (flapping must not cause copies) but is no source; a decommissioning node is a
        source but does not count, so its blocks are copied elsewhere before it is released.
        """
        alive = self.registry.holders(block_id, ALIVE)
        stale = self.registry.holders(block_id, STALE)
        keepers = [n for n in alive if n.admin == NORMAL]
        counted = keepers + [n for n in stale if n.admin == NORMAL]
        return alive, counted, keepers

    def _writable_racks(self):
        return {n.rack for n in self.registry.writable()}

    def _update_decommissions(self, targets):
        in_service = len(self.registry.writable())
        for node in self.registry.nodes.values():
            if node.admin != DECOMMISSIONING or node.state == DEAD:
                continue
            pending = stuck = 0
            for block_id in node.blocks:
                if block_id in targets and len(self._replicas(block_id)[1]) < targets[block_id][0]:
                    pending += 1
                    stuck += targets[block_id][0] > in_service
            node.decommission_pending = pending
            node.decommission_blocked = None if not stuck else (
                f"cannot finish: {stuck} of its blocks need more replicas than the {in_service} datanode(s) in"
                " service can hold; add a datanode or lower their replication (dfs setrep)")
            if pending == 0:
                node.admin = DECOMMISSIONED
                log.info("datanode {node} is decommissioned: every block it held is replicated elsewhere",
                         node=node.id)
                defer.ensureDeferred(self.safemode.forget(node.id)).addErrback(
                    lambda f: log.failure("could not forget a decommissioned datanode", f))

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

    def _copy(self, block_id, size, sources, counted, count, suits=lambda node: True):
        """Copy the block from one of ``sources`` to ``count`` nodes that ``suits``, placed beside the replicas
        ``counted`` (dfs.namenode.placement)."""
        if block_id in self._copying:
            return
        holders = set(self.registry.replicas.get(block_id, ()))
        free_sources = [n for n in sources if self._busy_nodes.get(n.id, 0) < self.copies_per_node]
        candidates = [n for n in self.registry.writable()
                      if self._busy_nodes.get(n.id, 0) < self.copies_per_node and suits(n)]
        targets = choose_targets(candidates, count, size, exclude=holders, placed=counted)
        if not free_sources or not targets:
            return
        self._copying.add(block_id)
        d = defer.gatherResults(
            [defer.Deferred.fromCoroutine(self._copy_one(block_id, free_sources[0], t)) for t in targets],
            consumeErrors=True,
        )
        d.addBoth(lambda _: self._copying.discard(block_id))

    async def _copy_one(self, block_id, source, target):
        for node in (source, target):
            self._busy_nodes[node.id] = self._busy_nodes.get(node.id, 0) + 1
        try:
            response = await self.datanodes.fetch(target.url, block_id, source.url)
            body = await response.content()
            if response.code >= 300:
                log.warn("copy of {block} to {node} failed: {code} {body}", block=block_id, node=target.id,
                         code=response.code, body=body[:200])
                return
            self.registry.add_replica(block_id, target.id)
            self.stats["copies_done"] += 1
            log.info("re-replicated {block} from {src} to {dst}", block=block_id, src=source.id, dst=target.id)
        except Exception as e:
            log.warn("copy of {block} to {node} failed: {e}", block=block_id, node=target.id, e=e)
        finally:
            for node in (source, target):
                self._busy_nodes[node.id] -= 1

    def _trim(self, block_id, holders, count, marks):
        """Drop ``count`` extra replicas, keeping the racks they span (dfs.namenode.placement.surplus)."""
        for node in surplus(holders, count):
            self._delete(block_id, node, marks.get(node.id))

    def _delete(self, block_id, node, mark):
        """Queue the deletion of ``node``'s replica unless the node stored or confirmed the block after ``mark``
        (what the node last reported before this pass read the database): an upload it served since then may need
        it. The queues go out at the end of the pass (``_send_doomed``)."""
        if mark is None or not self._leading():
            return  # the node has not reported a mark yet, or this namenode's lease ran out during the pass
        self.registry.remove_replica(block_id, node.id)
        queued = self._doomed.setdefault(node.id, _Doomed(node))
        queued.batches.setdefault((mark, self._epoch), []).append(block_id)

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

    async def _send_batch(self, node, block_ids, mark, epoch):
        response = await self.datanodes.delete_many(node.url, block_ids, mark, epoch)
        body = await response.content()
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

    def _keep(self, node, block_ids):
        for block_id in block_ids:
            self.registry.add_replica(block_id, node.id)

    async def wipe_datanodes(self):
        self.registry.forget_all_blocks()
        self._orphan_since.clear()
        answers = [
            self.datanodes.format(n.url).addCallback(lambda r: r.content())
            for n in self.registry.alive()
        ]
        await defer.DeferredList(answers, consumeErrors=True)

    async def fsck(self, path):
        files = await self.store.walk_files(path)
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


@dataclass
class _Doomed:
    """The replicas a node is to delete: block ids by the (mark, epoch) they were chosen under."""

    node: object
    batches: dict = field(default_factory=dict)
    sending: bool = False  # a sender runs, and takes what is queued meanwhile


def _in_one_rack(replicas, wanted, racks):
    """Whether a block that should have ``wanted`` copies holds them all in one rack while the datanodes that take
    writes span the ``racks`` (HDFS: mis-replicated): losing that rack would lose the block."""
    return wanted > 1 and len(racks) > 1 and len({n.rack for n in replicas}) == 1
