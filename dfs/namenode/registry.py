"""Datanode membership and the replica map, both held in memory and relearned from registrations and block reports."""

import random
from collections import deque
from urllib.parse import urlsplit

from twisted.application.internet import TimerService
from twisted.logger import Logger

from dfs.errors import BadRequest, FileNotFound
from dfs.logs import background_failure
from dfs.namenode.replicamap import ReplicaMap
from dfs.namenode.steps import run_to_end
from dfs.racks import DEFAULT_RACK

log = Logger()

ALIVE, STALE, DEAD = "alive", "stale", "dead"
MAINTENANCE_READ_EVERY = 3.0  # seconds: how soon a window set on one namenode reaches the others
HISTORY = 100  # membership changes kept for the status page: enough to see a flapping node, bounded in memory
# A full block report is a snapshot taken before it was sent; a replica added (by a write or a copy) less than this
# many seconds before the report arrives may be missing from it without being gone, and one removed (a delete sent)
# may still be in it without being there.
REPORT_LAG = 30.0
NORMAL, DECOMMISSIONING, DECOMMISSIONED = "normal", "decommissioning", "decommissioned"
MAINTENANCE = "maintenance"
# Replicas a block keeps outside maintenance, whatever its nodes in maintenance hold (HDFS's
# dfs.namenode.maintenance.replication.min): below it, copies are made as if those nodes were gone.
MAINTENANCE_MIN_REPLICAS = 1
REPORT_STEP = 1024  # report blocks applied in one cooperative step: 2-3 ms of the reactor


class Unwatched:
    """What the registry tells when no one watches it (dfs.namenode.repair.Repair watches it in a namenode)."""

    def block_changed(self, block_id):
        """A replica of ``block_id`` appeared or went."""

    def node_changed(self, node_id):
        """A node changed state (liveness, admin state or rack)."""


class Datanode:
    def __init__(self, node_id, url, public_url, now):
        self.id = node_id
        self.url = url
        self.public_url = public_url
        self.capacity = 0
        self.used = 0
        self.free = 0
        self.filesystem = node_id  # datanodes on one filesystem share its capacity and free space
        self.rack = DEFAULT_RACK
        self.failed_volumes = 0  # data directories the node lost and runs without
        self.registered = now
        self.last_seen = now
        self.last_report = None
        self.version = None
        self.protocol = None  # the namenode <-> datanode protocol version spoken with it (dfs.protocol)
        # block id -> None: a set the cyclic collector does not walk (a dict of strs is untracked; a set is walked
        # entry by entry at each full collection, 0.2 s over 3 x 10^6 replicas)
        self.blocks = {}
        self.edits = 0  # changes made to ``blocks`` in place (a walk of it in steps sees whether it changed)
        self.mark = None  # the node's latest store mark: a delete carrying it spares blocks stored after it
        self.state = ALIVE
        self.admin = NORMAL
        self.decommission_pending = 0
        self.decommission_blocked = None  # why draining cannot finish, when it cannot
        self.maintenance_until = None  # while admin is MAINTENANCE: when the window ends (seconds since the epoch)
        self.holdings_known = True  # False for a node known only by its maintenance window, until it registers
        # block id -> when a write or copy put it here, after this node's report may have been taken; oldest first
        self.recent = {}
        self.removed = {}  # block id -> when a delete was sent for it, after this node's report may have been taken
        self.pending = None  # the full report arriving in pieces, if one is

    @property
    def host(self):
        """The host in the node's URL: a client from that address writes its first replica here."""
        return urlsplit(self.url).hostname

    @property
    def writable(self):
        """New blocks may go here: alive and not being drained."""
        return self.state == ALIVE and self.admin == NORMAL

    def describe(self, now):
        return {
            "id": self.id,
            "url": self.url,
            "public_url": self.public_url,
            # A draining node that still answers shows its admin state; a silent one shows it is silent, unless it
            # is in maintenance: away by design.
            "state": self.admin if self.admin == MAINTENANCE or self.state == ALIVE and self.admin != NORMAL
            else self.state,
            "liveness": self.state,
            "admin": self.admin,
            "decommission_pending": self.decommission_pending,
            "decommission_blocked": self.decommission_blocked,
            "maintenance_until": self.maintenance_until,
            "capacity": self.capacity,
            "used": self.used,
            "free": self.free,
            "filesystem": self.filesystem,
            "rack": self.rack,
            "failed_volumes": self.failed_volumes,
            "blocks": len(self.blocks),
            "last_heartbeat": round(now - self.last_seen, 3),
            "last_block_report": None if self.last_report is None else round(now - self.last_report, 3),
            "version": self.version,
            "protocol": self.protocol,
        }


class PendingReport:
    """A full report arriving in pieces: the pieces in so far, and the replicas the node had when it began that no
    piece has named yet (the mark, a dict as ``Datanode.blocks`` is); those left when the last piece is in are gone
    (the sweep)."""

    def __init__(self, report_id, pieces, unconfirmed):
        self.id = report_id
        self.pieces = pieces
        self.arrived = set()
        self.unconfirmed = unconfirmed


class Registry:
    """Who is in the cluster, in what state, and which node holds which block.

    A node silent for ``stale_after`` seconds is stale: no new blocks go there and reads try it last, but its
    replicas still count; after ``dead_after`` (HDFS's 10.5 minutes by default) it is dead and its blocks are copied
    again. A restart or a rolling update of the datanodes thus copies nothing.

    A node in maintenance (``maintenance``: {node id: until when}, as the database holds them) takes no new blocks
    and is read from last; its replicas count however long it is silent, as long as each block keeps
    ``maintenance_min`` replicas on nodes in service. When the window ends it is a node like the others: dead if it
    has been silent for ``dead_after``."""

    def __init__(self, clock, stale_after=30.0, dead_after=630.0, maintenance_min=MAINTENANCE_MIN_REPLICAS):
        self.clock = clock
        self.stale_after = stale_after
        self.dead_after = dead_after
        self.maintenance_min = maintenance_min
        self.maintenance = {}
        self.maintenance_changes = 0  # windows set here: a read of the database begun before one is out of date
        self.nodes = {}
        self.replicas = ReplicaMap()  # block id -> the ids of the nodes holding it; every table keeps its id objects
        self.corrupt = {}  # block id -> tuple of the ids of the nodes whose copy failed verification
        self.history = deque(maxlen=HISTORY)  # (time, node id, what happened), oldest first
        self.watcher = Unwatched()

    def register(self, node_id, url, public_url, capacity, used, free, blocks, version=None, mark=None,
                 filesystem=None, rack=None, failed_volumes=0, protocol=None):
        now = self.clock.seconds()
        node = self.nodes.get(node_id)
        if node is None:
            node = self.nodes[node_id] = Datanode(node_id, url, public_url, now)
            log.info("datanode {node} joined at {url}", node=node_id, url=url)
            self._record(node_id, "joined")
        else:
            node.url, node.public_url = url, public_url
            log.info("datanode {node} re-registered at {url}", node=node_id, url=url)
            self._record(node_id, "re-registered")
        node.version, node.protocol = version, protocol
        self._seen(node, capacity, used, free, mark, filesystem, rack, failed_volumes)
        if blocks is None:  # a full report follows in pieces; until it is complete the belief stays as it was
            node.pending = node.last_report = None
        else:
            self.report(node_id, blocks)
        return node

    def heartbeat(self, node_id, capacity, used, free, mark=None, filesystem=None, rack=None, failed_volumes=0):
        node = self._known(node_id)
        self._seen(node, capacity, used, free, mark, filesystem, rack, failed_volumes)
        return node

    def _known(self, node_id):
        node = self.nodes.get(node_id)
        if node is None:
            raise FileNotFound(f"Unknown datanode {node_id}: register first")
        return node

    def _seen(self, node, capacity, used, free, mark, filesystem, rack, failed_volumes):
        node.capacity, node.used, node.free, node.mark = capacity, used, free, mark
        node.filesystem = filesystem or node.id
        moved, node.rack = node.rack != (rack or DEFAULT_RACK), rack or DEFAULT_RACK
        node.failed_volumes = failed_volumes
        node.last_seen = self.clock.seconds()
        if node.state != ALIVE:
            log.info("datanode {node} is alive again (was {state})", node=node.id, state=node.state)
            self._record(node.id, f"alive again (was {node.state})")
            node.state = ALIVE
            moved = True
        if moved:
            self.watcher.node_changed(node.id)

    def report(self, node_id, blocks):
        """Replace what we believe ``node_id`` holds with its full block report."""
        self.report_piece(node_id, None, 0, 1, blocks)

    def report_piece(self, node_id, report_id, piece, pieces, blocks):
        """Piece number ``piece`` of the full report ``report_id`` of ``pieces`` pieces, applied at once (see
        ``report_piece_steps``). Whether the report is complete."""
        return run_to_end(self.report_piece_steps(node_id, report_id, piece, pieces, blocks))

    def report_piece_steps(self, node_id, report_id, piece, pieces, blocks):
        """Piece number ``piece`` of the full report ``report_id`` of ``pieces`` pieces, in steps of REPORT_STEP
        blocks for a cooperator: its blocks count at once, and once every piece is in, the replicas the node had when
        the report began that no piece named are gone. A piece of another report than the one arriving starts that
        report over; one a registration or a newer report overtook between two steps stops there. Returns whether
        the report is complete.

        In steps, because pieces come from many datanodes at once (all of them, after a namenode restart): applied
        whole, those that arrived together held the reactor for the sum of their costs, 6 ms a piece of 4,096. And
        a piece of more than one step applies none in the turn that read its request: each one's first step, run
        at once, still added up to 50-90 ms of CPU across the requests read in one turn."""
        node = self._known(node_id)
        report = node.pending
        if report is None or (report.id, report.pieces) != (report_id, pieces):
            report = node.pending = PendingReport(report_id, pieces, dict(node.blocks))
            self._forget_old_news(node)
        for start in range(0, len(blocks), REPORT_STEP):
            if start or len(blocks) > REPORT_STEP:
                yield
                if self.nodes.get(node_id) is not node or node.pending is not report:
                    return False
            self._apply_blocks(node, report, blocks[start:start + REPORT_STEP])
        report.arrived.add(piece)
        if len(report.arrived) < pieces:
            return False
        node.pending = None
        self._forget_old_news(node)
        for gone in [block_id for block_id in report.unconfirmed if block_id not in node.recent]:
            self._drop(node, gone)
        if not node.holdings_known:
            self.watcher.node_changed(node_id)  # while unknown it counted for every block
            node.holdings_known = True
        node.last_report = self.clock.seconds()
        return True

    def _apply_blocks(self, node, report, blocks):
        node.edits += 1
        add, watcher = self.replicas.add, self.watcher
        held, removed, unconfirmed = node.blocks, node.removed, report.unconfirmed
        for block_id in blocks:  # the one loop in Python: 10^6 new replicas take about 3 s of CPU
            unconfirmed.pop(block_id, None)
            if block_id in held or block_id in removed:  # removed: a delete sent since the report was taken
                continue
            block_id = add(block_id, node.id)
            held[block_id] = None
            watcher.block_changed(block_id)

    def _forget_old_news(self, node):
        """Forget the replicas added or removed ``REPORT_LAG`` or more seconds ago (any report sent now shows them),
        oldest first: full reports are hours apart, so each change does this, at little cost."""
        now = self.clock.seconds()
        for news in (node.recent, node.removed):
            old = []
            for block_id, when in news.items():
                if now - when < REPORT_LAG:
                    break
                old.append(block_id)
            for block_id in old:
                del news[block_id]

    def report_corrupt(self, node_id, block_id):
        """A node found its copy bad (and quarantined it): it no longer counts as a replica."""
        self.remove_replica(block_id, node_id)
        self.corrupt[block_id] = _joined(self.corrupt.get(block_id, ()), node_id)
        log.warn("datanode {node} reported block {block} corrupt", node=node_id, block=block_id)

    def add_replica(self, block_id, node_id):
        node = self.nodes.get(node_id)
        if node is not None:
            block_id = self.replicas.add(block_id, node.id)
            node.blocks[block_id] = None
            node.edits += 1
            node.recent.pop(block_id, None)  # to the end: the newest
            node.recent[block_id] = self.clock.seconds()
            node.removed.pop(block_id, None)
            self._forget_old_news(node)
            self.watcher.block_changed(block_id)

    def remove_replica(self, block_id, node_id):
        node = self.nodes.get(node_id)
        if node is not None:
            block_id = self.replicas.own(block_id)
            node.recent.pop(block_id, None)
            node.removed.pop(block_id, None)  # to the end: the newest
            node.removed[block_id] = self.clock.seconds()
            self._forget_old_news(node)
            self._drop(node, block_id)
        else:
            self._unlist(block_id, node_id)

    def _drop(self, node, block_id):
        node.blocks.pop(block_id, None)
        node.edits += 1
        self._unlist(block_id, node.id)

    def _unlist(self, block_id, node_id):
        self.replicas.discard(block_id, node_id)
        self.watcher.block_changed(block_id)

    def update_states(self):
        """Move nodes along alive -> stale -> dead by the time since their last heartbeat, and into and out of
        maintenance by its windows."""
        now = self.clock.seconds()
        for node in self.nodes.values():
            self._update_maintenance(node, now)
            silent = now - node.last_seen
            state = DEAD if silent >= self.dead_after else STALE if silent >= self.stale_after else ALIVE
            if state != node.state:
                log.info("datanode {node} is now {state} (silent {silent:.1f}s)", node=node.id, state=state,
                         silent=silent)
                self._record(node.id, state)
                node.state = state
                self.watcher.node_changed(node.id)

    def _update_maintenance(self, node, now):
        until = self.maintenance.get(node.id)
        if until is not None and until > now and node.admin in (NORMAL, MAINTENANCE):
            if node.admin != MAINTENANCE or node.maintenance_until != until:
                log.info("datanode {node} is in maintenance for {left:.0f} s", node=node.id, left=until - now)
                self._record(node.id, "in maintenance")
                self.watcher.node_changed(node.id)
            node.admin, node.maintenance_until = MAINTENANCE, until
        elif node.admin == MAINTENANCE:
            log.info("datanode {node}: maintenance over", node=node.id)
            self._record(node.id, "maintenance over")
            node.admin, node.maintenance_until = NORMAL, None
            self.watcher.node_changed(node.id)

    def set_maintenance(self, node_id, until):
        """Put a node in maintenance until ``until`` (seconds since the epoch), or end it (None); the node."""
        node = self.get(node_id)
        if node.admin not in (NORMAL, MAINTENANCE):
            raise BadRequest(f"datanode {node_id} is {node.admin}: cancel that first (dfs decommission --cancel)")
        self.maintenance[node_id] = until
        self.maintenance_changes += 1
        self.update_states()
        return node

    def load_maintenance(self, windows):
        """The maintenance windows as the database holds them ({node id: until}): set by any namenode. A node in
        maintenance that has not registered since this namenode started (it restarted while the node was away) is
        listed, dead, with holdings unknown: until it reports, it may hold any block."""
        self.maintenance = dict(windows)
        now = self.clock.seconds()
        for node_id in [i for i, until in windows.items() if until > now and i not in self.nodes]:
            node = self.nodes[node_id] = Datanode(node_id, "", "", now - self.dead_after)
            node.holdings_known = False
        self.update_states()

    def counted_in_maintenance(self, block_id, in_service):
        """The replicas of ``block_id`` on nodes in maintenance that count toward its replication, alive or not,
        given those that count on nodes in service (and one on each node in maintenance whose holdings are unknown):
        all, but as many fewer as the block lacks of ``maintenance_min`` in service, so that repair copies that many
        elsewhere."""
        away = [self.nodes[i] for i in self.replicas.get(block_id, ()) if self.nodes[i].admin == MAINTENANCE]
        # Only nodes with a window can be in maintenance: walking them, not every node, keeps a check O(replicas).
        windowed = (self.nodes.get(i) for i in self.maintenance)
        away += [n for n in windowed if n is not None and n.admin == MAINTENANCE and not n.holdings_known]
        return away[max(0, self.maintenance_min - len(in_service)):]

    def alive(self):
        self.update_states()
        return [n for n in self.nodes.values() if n.state == ALIVE]

    def writable(self):
        """Nodes that may receive new blocks (alive, not decommissioning)."""
        return [n for n in self.alive() if n.admin == NORMAL]

    def holders(self, block_id, state=None):
        """Nodes in ``state`` that hold ``block_id``, shuffled so reads spread over replicas; without a state, the
        live ones and then the stale ones (a reader tries last a node that may be gone)."""
        self.update_states()
        nodes = [self.nodes[i] for i in self.replicas.get(block_id, ())]
        random.shuffle(nodes)
        if state is not None:
            return [n for n in nodes if n.state == state]
        away = [n for n in nodes if n.admin == MAINTENANCE]
        return ([n for n in nodes if n.state == ALIVE and n not in away] + [n for n in nodes if n.state == STALE]
                + [n for n in away if n.state == ALIVE])

    def decommission(self, node_id, cancel=False):
        """Start draining a node (it stays readable; its blocks are copied elsewhere), or stop draining it."""
        node = self.get(node_id)
        node.admin = NORMAL if cancel else DECOMMISSIONING
        self.watcher.node_changed(node_id)
        what = "back in service" if cancel else "decommissioning"
        log.info("datanode {node}: {what}", node=node_id, what=what)
        self._record(node_id, what)
        return node

    def get(self, node_id):
        node = self.nodes.get(node_id)
        if node is None:
            raise FileNotFound(f"no datanode named {node_id} (dfs status lists them)")
        return node

    def describe(self):
        self.update_states()
        now = self.clock.seconds()
        return [n.describe(now) for n in sorted(self.nodes.values(), key=lambda n: n.id)]

    def _record(self, node_id, what):
        self.history.append((self.clock.seconds(), node_id, what))

    def describe_history(self):
        """Membership changes since the namenode started, newest first, with their age in seconds."""
        self.update_states()
        now = self.clock.seconds()
        return [{"node": node_id, "event": what, "seconds_ago": round(now - when, 3)}
                for when, node_id, what in reversed(self.history)]

    def forget_all_blocks(self):
        self.replicas.clear()
        self.corrupt.clear()
        for node in self.nodes.values():
            node.blocks = {}
            node.pending = None


def _joined(holders, node_id):
    """The tuple ``holders`` with ``node_id`` in it."""
    return holders if node_id in holders else holders + (node_id,)


def maintenance_reader(store, registry, clock, interval=MAINTENANCE_READ_EVERY):
    """A service reading the maintenance windows from ``store`` at start and every ``interval`` seconds into
    ``registry``: a restarted namenode, and every namenode on a shared database, learns those any of them set."""

    def load(windows, changes):
        if changes == registry.maintenance_changes:  # else a window set meanwhile may be missing from what was read
            registry.load_maintenance(windows)

    def read():
        d = store.maintenance_windows()
        d.addCallback(load, registry.maintenance_changes)
        d.addErrback(background_failure(log, "reading the maintenance windows failed"))
        return d

    reader = TimerService(interval, read)
    reader.clock = clock
    return reader
