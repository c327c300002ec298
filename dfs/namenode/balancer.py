"""The balancer: moves replicas from the fullest datanodes to the emptiest until every one's utilization is within a
threshold of the cluster's mean, one copy-then-delete at a time, so it may stop anywhere without losing a replica.

Run by the namenode that leads background work (dfs.namenode.leader): its deletes go through repair's, under the
lease's epoch, so a former leader that wakes up deletes nothing.
"""

from collections import namedtuple

from twisted.application.internet import TimerService
from twisted.internet import defer
from twisted.internet.task import deferLater
from twisted.logger import Logger

from dfs.errors import Unavailable
from dfs.logs import background_failure
from dfs.namenode.registry import ALIVE, NORMAL, STALE

log = Logger()

DEFAULT_THRESHOLD = 10.0  # percentage points from the mean, HDFS's default
DEFAULT_BANDWIDTH = 100.0  # MB/s (2^20 bytes), HDFS's dfs.datanode.balance.bandwidthPerSec
MB = 1024 * 1024
# Moves planned at once: the next round plans again on what the datanodes' heartbeats say after these.
MOVES_PER_ROUND = 64
MAX_ROUNDS = 10_000
SETTLE_POLL = 0.5  # seconds between two looks for the heartbeats that follow a round
SETTLE_LIMIT = 120  # looks: a node that stays silent does not hold the balancer up for more than a minute

RUNNING, BALANCED, STUCK, STOPPED = "running", "balanced", "stuck", "stopped"

Move = namedtuple("Move", "block_id size source target")


def utilization(used, capacity):
    """Percent of ``capacity`` that is ``used`` (0 for a node that offers no space)."""
    return 100.0 * used / capacity if capacity > 0 else 0.0


def mean_utilization(nodes):
    """The cluster's utilization: all the bytes used over all the capacity, as HDFS's balancer counts it."""
    capacity = sum(n.capacity for n in nodes)
    return utilization(sum(n.used for n in nodes), capacity)


def keeps_racks(before, after):
    """Whether replicas on the racks ``after`` spread as HDFS's policy asks, given they were on ``before``: a block
    in two racks or more stays in two at least, one in a single rack stays where it is or spreads."""
    return len(set(after)) >= min(len(set(before)), 2)


def plan_moves(nodes, blocks, threshold, limit=MOVES_PER_ROUND):
    """Up to ``limit`` moves that bring the ``nodes`` (the datanodes that take writes: id, rack, capacity, used,
    free, blocks) toward the mean, each from a node above it to one below, at least one of them beyond
    ``threshold`` points. ``blocks``: {block id: (size, the nodes that hold a replica that counts)} of the blocks
    that may move (referenced, fully replicated).

    A move goes only where the target's utilization, averaged over before and after the move, stays below the
    source's: then every move lowers the sum over nodes of capacity × utilization², so a plan cannot oscillate.
    The fullest source and the emptiest target go first, with the source's largest block that fits.
    """
    used = {n.id: n.used for n in nodes}
    added = {n.id: 0 for n in nodes}
    mean = mean_utilization(nodes)
    holders = {b: {n.id: n.rack for n in held} for b, (_, held) in blocks.items()}
    # Largest first: fewer moves for the same bytes.
    movable = {n.id: sorted((b for b in n.blocks if b in blocks), key=lambda b: (-blocks[b][0], b)) for n in nodes}
    moving, moves = set(), []

    def level(node):
        return utilization(used[node.id], node.capacity)

    def narrows(size, source, target):
        target_after = utilization(used[target.id] + size, target.capacity)
        source_after = utilization(used[source.id] - size, source.capacity)
        return level(target) + target_after < level(source) + source_after

    def fits(block_id, source, target):
        size = blocks[block_id][0]
        racks = holders[block_id]
        after = [rack for node_id, rack in racks.items() if node_id != source.id] + [target.rack]
        return (block_id not in moving and target.id not in racks and target.free - added[target.id] >= size
                and narrows(size, source, target)
                and keeps_racks(racks.values(), after))

    def next_move():
        sources = sorted((n for n in nodes if level(n) > mean), key=level, reverse=True)
        targets = sorted((n for n in nodes if level(n) < mean), key=level)
        for source in sources:
            for target in targets:
                if level(source) - mean <= threshold and mean - level(target) <= threshold:
                    continue  # both within the threshold: moving between them balances nothing that needs it
                block_id = next((b for b in movable[source.id] if fits(b, source, target)), None)
                if block_id is not None:
                    return Move(block_id, blocks[block_id][0], source, target)
        return None

    while len(moves) < limit and not balanced(nodes, threshold, used):
        move = next_move()
        if move is None:
            break
        moves.append(move)
        moving.add(move.block_id)
        used[move.source.id] -= move.size
        used[move.target.id] += move.size
        added[move.target.id] += move.size
    return moves


def balanced(nodes, threshold, used=None):
    """Whether every node's utilization is within ``threshold`` points of the mean (``used``: bytes by node id,
    instead of what the nodes said)."""
    used = used or {n.id: n.used for n in nodes}
    capacity = sum(n.capacity for n in nodes)
    mean = utilization(sum(used.values()), capacity)
    return all(abs(utilization(used[n.id], n.capacity) - mean) <= threshold for n in nodes)


class Run:
    """One balancer run's settings and progress."""

    def __init__(self, threshold, bandwidth, started, background=False):
        self.threshold = threshold
        self.bandwidth = bandwidth  # MB/s
        self.background = background
        self.started = started
        self.ended = None
        self.state = RUNNING
        self.why = None
        self.rounds = 0
        self.bytes_moved = 0
        self.moves_done = 0
        self.moves_failed = 0
        self.moves_left = 0
        self.stop_asked = False
        self.pause = None  # the throttle's wait under way, cut short by a stop

    def end(self, state, why, now):
        self.state, self.why, self.ended = state, why, now
        log.info("balancer {state}: {why} ({moves} moves, {bytes} bytes moved)", state=state, why=why,
                 moves=self.moves_done, bytes=self.bytes_moved)


class Balancer:
    """Runs one balancer at a time on this namenode; ``describe`` tells how the latest run goes."""

    def __init__(self, store, registry, datanodes, repair, clock, leadership=None):
        self.store = store
        self.registry = registry
        self.datanodes = datanodes  # a dfs.peers.DatanodeClient
        self.repair = repair  # its safe mode holds moves back; its delete carries the lease's epoch
        self.clock = clock
        self.leadership = leadership  # None: this namenode always leads
        self.run = None

    @property
    def busy(self):
        return self.run is not None and self.run.state == RUNNING

    def leading(self):
        return self.leadership is None or self.leadership.epoch is not None

    def start(self, threshold=DEFAULT_THRESHOLD, bandwidth=DEFAULT_BANDWIDTH, background=False):
        """Start a run (or keep the one under way); its description."""
        if not self.leading():
            raise Unavailable("this namenode does not lead background work: the leader runs the balancer")
        if self.repair.safemode.on:
            raise Unavailable(f"Name node is in safe mode: {self.repair.safemode.reason()}")
        if not self.busy:
            self.run = Run(threshold, bandwidth, self.clock.seconds(), background)
            log.info("balancer started: threshold {threshold:g} points, {bandwidth:g} MB/s", threshold=threshold,
                     bandwidth=bandwidth)
            run = self.run
            running = defer.Deferred.fromCoroutine(self._balance(run))
            running.addErrback(background_failure(log, "balancer failed"))
            running.addCallback(lambda _: run.state == RUNNING and run.end(STOPPED, "failed: see the namenode's log",
                                                                          self.clock.seconds()))
        return self.describe()

    def stop(self):
        """Ask the run under way to stop after the move it is making (a copy is never left half-done)."""
        if self.busy:
            self.run.stop_asked = True
            if self.run.pause is not None:
                self.run.pause.cancel()
        return self.describe()

    def describe(self):
        nodes = self.registry.writable()
        mean = mean_utilization(nodes)
        run = self.run
        described = {
            "state": "idle" if run is None else run.state,
            "leading": self.leading(),
            "mean": round(mean, 3),
            "nodes": [{"id": n.id, "rack": n.rack, "used": n.used, "capacity": n.capacity,
                       "utilization": round(utilization(n.used, n.capacity), 3)}
                      for n in sorted(nodes, key=lambda n: n.id)],
        }
        if run is not None:
            now = run.ended if run.ended is not None else self.clock.seconds()
            described.update(threshold=run.threshold, bandwidth=run.bandwidth, background=run.background,
                             why=run.why, seconds=round(now - run.started, 3), rounds=run.rounds,
                             bytes_moved=run.bytes_moved, moves_done=run.moves_done,
                             moves_failed=run.moves_failed, moves_left=run.moves_left)
        return described

    async def _balance(self, run):
        for _ in range(MAX_ROUNDS):
            why = self._why_not(run)
            if why:
                return run.end(STOPPED, why, self.clock.seconds())
            nodes = self.registry.writable()
            if balanced(nodes, run.threshold):
                return run.end(BALANCED, f"every datanode is within {run.threshold:g} points of the mean",
                               self.clock.seconds())
            marks = {node.id: node.mark for node in nodes}  # taken before the database is read, as repair's
            movable, wanted = await self._movable()
            moves = plan_moves(nodes, movable, run.threshold)
            if not moves:
                return run.end(STUCK, "no replica can move without breaking a rule (space, racks, replication)",
                               self.clock.seconds())
            run.rounds += 1
            run.moves_left = len(moves)
            done_before = run.moves_done
            for move in moves:
                why = self._why_not(run)
                if why:
                    return run.end(STOPPED, why, self.clock.seconds())
                await self._move(run, move, wanted[move.block_id], marks.get(move.source.id))
                run.moves_left -= 1
                await self._throttle(run)
            if run.moves_done == done_before:
                return run.end(STUCK, "a whole round of moves failed (see the namenode's log)", self.clock.seconds())
            await self._settle(run, self.clock.seconds())
        run.end(STUCK, f"not balanced after {MAX_ROUNDS} rounds", self.clock.seconds())

    def _why_not(self, run):
        """Why the run must stop now, or None."""
        if run.stop_asked:
            return "stopped on request"
        if not self.leading():
            return "this namenode no longer leads background work"
        if self.repair.safemode.on:
            return "the namenode is in safe mode"
        return None

    async def _movable(self):
        """{block id: (size, replicas that count)} of the referenced blocks that have all their replicas, and
        {block id: replication} of every referenced block."""
        movable, wanted = {}, {}
        for block_id, (replication, size) in (await self.store.block_targets()).items():
            wanted[block_id] = replication
            counted = self._counted(block_id)
            if len(counted) >= replication:
                movable[block_id] = (size, counted)
        return movable, wanted

    def _counted(self, block_id):
        """The replicas that count toward a block's replication: on live or stale nodes in service (the states as
        the registry last updated them)."""
        held = (self.registry.nodes[i] for i in self.registry.replicas.get(block_id, ()))
        return [n for n in held if n.state in (ALIVE, STALE) and n.admin == NORMAL]

    async def _move(self, run, move, wanted, mark):
        """Copy the replica to the target, then delete the source's if every rule still holds without it."""
        block_id, source, target = move.block_id, move.source, move.target
        try:
            response = await self.datanodes.fetch(target.url, block_id, source.url)
            body = await response.content()
        except Exception as e:
            return self._failed(run, move, str(e))
        if response.code >= 300:
            return self._failed(run, move, f"{response.code} {body[:200].decode('utf-8', 'replace')}")
        self.registry.add_replica(block_id, target.id)
        # Checked when the delete is sent, not when planned: repair may have trimmed a replica since.
        self.registry.update_states()
        before = self._counted(block_id)
        after = [n for n in before if n.id != source.id and n.state == ALIVE]
        if source not in before or len(after) < wanted or not keeps_racks([n.rack for n in before],
                                                                          [n.rack for n in after]):
            return self._failed(run, move, "the source's replica is needed after all; repair trims what is extra")
        deleted = self.repair.delete_replica(block_id, source, mark)
        if deleted is None:
            return self._failed(run, move, "not deleted: no mark from the source yet, or the lease ran out")
        await deleted
        if block_id in source.blocks:
            return self._failed(run, move, "the source kept its replica (stored again since the round began)")
        run.moves_done += 1
        run.bytes_moved += move.size
        log.info("balancer moved {block} ({size} bytes) from {src} to {dst}", block=block_id, size=move.size,
                 src=source.id, dst=target.id)

    def _failed(self, run, move, why):
        run.moves_failed += 1
        log.warn("balancer: move of {block} from {src} to {dst} not done: {why}", block=move.block_id,
                 src=move.source.id, dst=move.target.id, why=why)

    async def _throttle(self, run):
        """Keep the bytes moved since the start within ``run.bandwidth``."""
        due = run.started + run.bytes_moved / (run.bandwidth * MB)
        wait = due - self.clock.seconds()
        if wait > 0:
            run.pause = deferLater(self.clock, wait)
            try:
                await run.pause
            except defer.CancelledError:
                pass  # stopped: the run ends before its next move
            run.pause = None

    async def _settle(self, run, since):
        """Wait until every node in service has sent a heartbeat after ``since``: the next round plans on the space
        the moves freed and filled."""
        for _ in range(SETTLE_LIMIT):
            if run.stop_asked or all(n.last_seen > since for n in self.registry.writable()):
                return
            await deferLater(self.clock, SETTLE_POLL)


def background_balancer(balancer, clock, interval, threshold, bandwidth):
    """A service that starts a run every ``interval`` seconds on the leader when none is under way (a run finds
    nothing to do on a balanced cluster and ends at once)."""
    def run():
        if balancer.leading() and not balancer.repair.safemode.on and not balancer.busy:
            balancer.start(threshold, bandwidth, background=True)

    service = TimerService(interval, run)
    service.clock = clock
    return service
