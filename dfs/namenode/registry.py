"""Datanode membership and the replica map, both held in memory and relearned from registrations and block reports."""

import random
from collections import deque
from urllib.parse import urlsplit

from twisted.logger import Logger

from dfs.errors import FileNotFound
from dfs.racks import DEFAULT_RACK

log = Logger()

ALIVE, STALE, DEAD = "alive", "stale", "dead"
HISTORY = 100  # membership changes kept for the status page: enough to see a flapping node, bounded in memory
# A full block report is a snapshot taken before it was sent; a replica added (by a write or a copy) less than this
# many seconds before the report arrives may be missing from it without being gone.
REPORT_LAG = 30.0
NORMAL, DECOMMISSIONING, DECOMMISSIONED = "normal", "decommissioning", "decommissioned"


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
        self.blocks = set()
        self.mark = None  # the node's latest store mark: a delete carrying it spares blocks stored after it
        self.state = ALIVE
        self.admin = NORMAL
        self.decommission_pending = 0
        self.decommission_blocked = None  # why draining cannot finish, when it cannot
        # block id -> when a write or copy put it here, after this node's report may have been taken; oldest first
        self.recent = {}
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
            # A draining node that still answers shows its admin state; a silent one shows it is silent.
            "state": self.admin if self.state == ALIVE and self.admin != NORMAL else self.state,
            "liveness": self.state,
            "admin": self.admin,
            "decommission_pending": self.decommission_pending,
            "decommission_blocked": self.decommission_blocked,
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
        }


class PendingReport:
    """A full report arriving in pieces: the pieces in so far, and the replicas the node had when it began that no
    piece has named yet (the mark); those left when the last piece is in are gone (the sweep)."""

    def __init__(self, report_id, pieces, unconfirmed):
        self.id = report_id
        self.pieces = pieces
        self.arrived = set()
        self.unconfirmed = unconfirmed


class Registry:
    """Who is in the cluster, in what state, and which node holds which block.

    A node silent for ``stale_after`` seconds is stale: no new blocks go there and reads try it last, but its
    replicas still count; after ``dead_after`` (HDFS's 10.5 minutes by default) it is dead and its blocks are copied
    again. A restart or a rolling update of the datanodes thus copies nothing."""

    def __init__(self, clock, stale_after=30.0, dead_after=630.0):
        self.clock = clock
        self.stale_after = stale_after
        self.dead_after = dead_after
        self.nodes = {}
        self.replicas = {}  # block id -> set of node ids
        self.corrupt = {}  # block id -> set of node ids whose copy failed verification
        self.history = deque(maxlen=HISTORY)  # (time, node id, what happened), oldest first

    def register(self, node_id, url, public_url, capacity, used, free, blocks, version=None, mark=None,
                 filesystem=None, rack=None, failed_volumes=0):
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
        node.version = version
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
        node.rack = rack or DEFAULT_RACK
        node.failed_volumes = failed_volumes
        node.last_seen = self.clock.seconds()
        if node.state != ALIVE:
            log.info("datanode {node} is alive again (was {state})", node=node.id, state=node.state)
            self._record(node.id, f"alive again (was {node.state})")
            node.state = ALIVE

    def report(self, node_id, blocks):
        """Replace what we believe ``node_id`` holds with its full block report."""
        self.report_piece(node_id, None, 0, 1, blocks)

    def report_piece(self, node_id, report_id, piece, pieces, blocks):
        """Piece number ``piece`` of the full report ``report_id`` of ``pieces`` pieces: its blocks count at once,
        and once every piece is in, the replicas the node had when the report began that no piece named are gone.
        A piece of another report than the one arriving starts that report over. Whether the report is complete."""
        node = self._known(node_id)
        report = node.pending
        if report is None or (report.id, report.pieces) != (report_id, pieces):
            report = node.pending = PendingReport(report_id, pieces, set(node.blocks))
        report.unconfirmed.difference_update(blocks)
        new = set(blocks)
        new -= node.blocks
        node.blocks |= new
        replicas = self.replicas
        for block_id in new:  # the one loop in Python: 10^6 new replicas take about 3 s of CPU
            holders = replicas.get(block_id)
            if holders is None:
                replicas[block_id] = {node_id}
            else:
                holders.add(node_id)
        report.arrived.add(piece)
        if len(report.arrived) < pieces:
            return False
        node.pending = None
        self._forget_old_news(node)
        for gone in report.unconfirmed - node.recent.keys():
            self._drop(node, gone)
        node.last_report = self.clock.seconds()
        return True

    def _forget_old_news(self, node):
        """Forget the replicas added ``REPORT_LAG`` or more seconds ago (any report sent now holds them), oldest first:
        full reports are hours apart, so each added replica does this, at little cost."""
        now = self.clock.seconds()
        old = []
        for block_id, when in node.recent.items():
            if now - when < REPORT_LAG:
                break
            old.append(block_id)
        for block_id in old:
            del node.recent[block_id]

    def report_corrupt(self, node_id, block_id):
        """A node found its copy bad (and quarantined it): it no longer counts as a replica."""
        self.remove_replica(block_id, node_id)
        self.corrupt.setdefault(block_id, set()).add(node_id)
        log.warn("datanode {node} reported block {block} corrupt", node=node_id, block=block_id)

    def add_replica(self, block_id, node_id):
        node = self.nodes.get(node_id)
        if node is not None:
            node.blocks.add(block_id)
            node.recent.pop(block_id, None)  # to the end: the newest
            node.recent[block_id] = self.clock.seconds()
            self._forget_old_news(node)
            self.replicas.setdefault(block_id, set()).add(node_id)

    def remove_replica(self, block_id, node_id):
        node = self.nodes.get(node_id)
        if node is not None:
            node.recent.pop(block_id, None)
            self._drop(node, block_id)
        else:
            self._unlist(block_id, node_id)

    def _drop(self, node, block_id):
        node.blocks.discard(block_id)
        self._unlist(block_id, node.id)

    def _unlist(self, block_id, node_id):
        holders = self.replicas.get(block_id)
        if holders is not None:
            holders.discard(node_id)
            if not holders:
                del self.replicas[block_id]

    def update_states(self):
        """Move nodes along alive -> stale -> dead by the time since their last heartbeat."""
        now = self.clock.seconds()
        for node in self.nodes.values():
            silent = now - node.last_seen
            state = DEAD if silent >= self.dead_after else STALE if silent >= self.stale_after else ALIVE
            if state != node.state:
                log.info("datanode {node} is now {state} (silent {silent:.1f}s)", node=node.id, state=state,
                         silent=silent)
                self._record(node.id, state)
                node.state = state

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
        return [n for n in nodes if n.state == ALIVE] + [n for n in nodes if n.state == STALE]

    def decommission(self, node_id, cancel=False):
        """Start draining a node (it stays readable; its blocks are copied elsewhere), or stop draining it."""
        node = self.get(node_id)
        node.admin = NORMAL if cancel else DECOMMISSIONING
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
            node.blocks = set()
            node.pending = None
