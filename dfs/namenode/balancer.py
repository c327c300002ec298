"""The balancer: moves replicas from the fullest datanodes to the emptiest until every one's utilization is within a
threshold of the cluster's mean. Each move copies before it deletes, so the run may stop anywhere without losing a
replica; many moves run at once, a few requests per datanode, small blocks between two nodes in one request.

A round is planned while the previous round's last moves are still in flight, on what the heartbeats said plus
what the moves under way and those done since a node's last heartbeat add and take away.

Run by the namenode that leads background work (dfs.namenode.leader): its deletes go through repair's, under the
lease's epoch, so a former leader that wakes up deletes nothing.
"""

from collections import namedtuple
from itertools import islice

from twisted.application.internet import TimerService
from twisted.internet import defer
from twisted.internet.task import deferLater
from twisted.logger import Logger

from dfs.errors import Unavailable
from dfs.logs import background_failure
from dfs.namenode.namespace.model import size_of, wanted_of
from dfs.namenode.registry import ALIVE, NORMAL, STALE
from dfs.namenode.repair import BATCH_BLOCKS, BATCH_BYTES, SMALL_COST, blocks_of, copy_blocks

log = Logger()

DEFAULT_THRESHOLD = 10.0  # percentage points from the mean, HDFS's default
DEFAULT_BANDWIDTH = 100.0  # MB/s (2^20 bytes), HDFS's dfs.datanode.balance.bandwidthPerSec
MB = 1024 * 1024
# Moves planned at once: the next round plans again once these have all started. A round also moves no more than
# ROUND_SECONDS of the bandwidth (HDFS's balancer: 20 minutes an iteration).
MOVES_PER_ROUND = 4096
ROUND_SECONDS = 600
# Copy requests a datanode sends or receives for the balancer at once (HDFS: dfs.datanode.balance.max.concurrent.moves);
# the bytes they carry are bounded as repair's copies are (its --replication-inflight).
REQUESTS_PER_NODE = 8
# Planning yields after every SCAN blocks it looks at; a source's blocks that fit no target tried so far wait, up to
# PASSED of them, for the next target (those beyond wait for the next round's walk). The walk goes on past them: a
# source's first blocks may all be on the target already, those whose other replica went there in an earlier round.
SCAN = 256
PASSED = 1024
MAX_ROUNDS = 10_000
SETTLE_POLL = 0.5  # seconds between two looks for the heartbeats that follow a round
SETTLE_LIMIT = 120  # looks: a node that stays silent does not hold the balancer up for more than a minute

RUNNING, BALANCED, STUCK, STOPPED = "running", "balanced", "stuck", "stopped"

Move = namedtuple("Move", "block_id size source target")
Batch = namedtuple("Batch", "source target moves size cost")  # moves between two nodes, in one copy request


class Round:
    """A round's moves not over yet, and those done."""

    def __init__(self, moves):
        self.left = moves
        self.done = 0


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


def planning(nodes, movable, threshold, moves, limit=MOVES_PER_ROUND, max_bytes=float("inf"), unreported=None,
             busy=()):
    """Steps for a cooperator that append to ``moves`` up to ``limit`` moves (``max_bytes`` in all) that bring the
    ``nodes`` (the datanodes that take writes: id, rack, capacity, used, free, blocks) toward the mean, each from a
    node above it to one below, at least one of them beyond ``threshold`` points. ``movable(block_id)``: (size, the
    nodes that hold a replica that counts) of a block that may move (referenced, fully replicated), else None.
    ``unreported``: {node id: bytes} that moves under way or not yet in a heartbeat add to a node's ``used`` (and,
    when positive, take from its ``free``); the blocks ``busy`` in moves under way stay where they are.

    A move goes only where the target's utilization, averaged over before and after the move, stays below the
    source's: then every move lowers the sum over nodes of capacity × utilization², so a plan cannot oscillate.
    The fullest source and the emptiest target go first, with the first of the source's blocks that fits. A
    source's blocks are walked as needed, not listed first (sorting a million of them would hold the reactor for
    seconds), and a step looks at SCAN of them at most.
    """
    unreported = unreported or {}
    used = {n.id: n.used + unreported.get(n.id, 0) for n in nodes}
    added = {n.id: max(0, unreported.get(n.id, 0)) for n in nodes}
    mean = utilization(sum(used.values()), sum(n.capacity for n in nodes))
    looked = {}  # block id -> (size, {node id: rack}) of the movable blocks looked at
    walks = {n.id: blocks_of(n) for n in nodes}
    passed = {n.id: [] for n in nodes}  # movable blocks of a source that did not fit the targets tried so far
    moving = set(busy)
    planned = 0
    pulled = 0  # blocks taken from the walks: a step after every SCAN of them

    def level(node):
        return utilization(used[node.id], node.capacity)

    def narrows(size, source, target):
        target_after = utilization(used[target.id] + size, target.capacity)
        source_after = utilization(used[source.id] - size, source.capacity)
        return level(target) + target_after < level(source) + source_after

    def fits(block_id, source, target):
        size, racks = looked[block_id]
        after = [rack for node_id, rack in racks.items() if node_id != source.id] + [target.rack]
        return (target.id not in racks and target.free - added[target.id] >= size
                and narrows(size, source, target)
                and keeps_racks(racks.values(), after))

    def pick(source, target):
        """Steps to the first of ``source``'s blocks that may go to ``target``: among those that fit no target
        tried before, then further in its walk to its end (None: not found)."""
        nonlocal pulled
        seen = passed[source.id]
        seen[:] = [b for b in seen if b not in moving]
        for i, block_id in enumerate(seen):
            if fits(block_id, source, target):
                return seen.pop(i)
        walk = walks[source.id]
        for block_id in walk:
            pulled += 1
            if pulled % SCAN == 0:
                yield
            if block_id in moving:
                continue
            fresh = block_id not in looked
            if fresh:
                found = movable(block_id)
                if found is None:
                    continue
                size, holders = found
                looked[block_id] = (size, {n.id: n.rack for n in holders})
            if fits(block_id, source, target):
                return block_id
            if len(seen) < PASSED:
                seen.append(block_id)
            elif fresh:
                del looked[block_id]  # left for the next round: a walk past a million blocks keeps none of them
        return None

    while len(moves) < limit and planned < max_bytes and not balanced(nodes, threshold, used):
        sources = sorted((n for n in nodes if level(n) > mean), key=level, reverse=True)
        targets = sorted((n for n in nodes if level(n) < mean), key=level)
        move = None
        for source in sources:
            for target in targets:
                if level(source) - mean <= threshold and mean - level(target) <= threshold:
                    continue  # both within the threshold: moving between them balances nothing that needs it
                block_id = yield from pick(source, target)
                yield
                if block_id is not None:
                    move = Move(block_id, looked[block_id][0], source, target)
                    break
            if move is not None:
                break
        if move is None:
            return
        moves.append(move)
        moving.add(move.block_id)
        planned += move.size
        used[move.source.id] -= move.size
        used[move.target.id] += move.size
        added[move.target.id] += move.size


def batches(moves, most_bytes):
    """The ``moves`` in copy requests: those between the same two nodes together, up to BATCH_BLOCKS and
    ``most_bytes`` (one move at least), in the order the plan first named each pair."""
    pairs = {}
    for move in moves:
        pairs.setdefault((move.source.id, move.target.id), []).append(move)
    for pair in pairs.values():
        batch = []
        for move in pair:
            if batch and (len(batch) == BATCH_BLOCKS or sum(m.size for m in batch) + move.size > most_bytes):
                yield _batch(batch)
                batch = []
            batch.append(move)
        yield _batch(batch)


def _batch(moves):
    return Batch(moves[0].source, moves[0].target, moves, sum(m.size for m in moves),
                 sum(max(m.size, SMALL_COST) for m in moves))


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
        self.bytes_sent = 0  # of the copies asked for, what the throttle counts
        self.bytes_moved = 0
        self.moves_done = 0
        self.moves_failed = 0
        self.moves_left = 0
        self.moves_in_flight = 0
        self.in_flight = {}  # block id -> its Move under way
        self.done_at = []  # (Move, when it was done) of the moves done that a node may not have told in a heartbeat
        self.load = {}  # node id -> (copy requests, bytes) it sends or receives for this run now
        self.stop_asked = False
        self.pause = None  # the wait under way, cut short by a stop or a batch that ends

    def end(self, state, why, now):
        self.state, self.why, self.ended = state, why, now
        log.info("balancer {state}: {why} ({moves} moves, {bytes} bytes moved)", state=state, why=why,
                 moves=self.moves_done, bytes=self.bytes_moved)

    def wake(self):
        if self.pause is not None:
            self.pause.cancel()


class Balancer:
    """Runs one balancer at a time on this namenode; ``describe`` tells how the latest run goes."""

    def __init__(self, store, registry, datanodes, repair, clock, leadership=None):
        self.store = store
        self.registry = registry
        self.datanodes = datanodes  # a dfs.peers.DatanodeClient
        # Its safe mode holds moves back; its delete carries the lease's epoch; its cooperator runs the planning.
        self.repair = repair
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
        """Ask the run under way to stop: no move starts after this, and the moves in flight end (each copies, then
        deletes), so a copy is never left half-done."""
        if self.busy:
            self.run.stop_asked = True
            self.run.wake()
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
                             moves_failed=run.moves_failed, moves_left=run.moves_left,
                             moves_in_flight=run.moves_in_flight)
        return described

    async def _balance(self, run):
        previous = None  # the round before: its last moves may be in flight while the next one is planned
        for _ in range(MAX_ROUNDS):
            why = self._why_not(run)
            if why:
                return await self._end(run, STOPPED, why)
            nodes = self.registry.writable()
            unreported = self._unreported(run)
            if balanced(nodes, run.threshold, {n.id: n.used + unreported.get(n.id, 0) for n in nodes}):
                if unreported:  # so it seems: look again once the moves are over and every node has told its space
                    await self._settle(run)
                    continue
                return run.end(BALANCED, f"every datanode is within {run.threshold:g} points of the mean",
                               self.clock.seconds())
            marks = {node.id: node.mark for node in nodes}  # taken before the database is read, as repair's
            targets = await self.store.block_targets()
            moves = await self._plan(run, nodes, targets, unreported)
            why = self._why_not(run)
            if why:
                return await self._end(run, STOPPED, why)
            if not moves:
                if unreported:  # the blocks that could go may be those under way: look again after them
                    await self._settle(run)
                    continue
                return run.end(STUCK, "no replica can move without breaking a rule (space, racks, replication)",
                               self.clock.seconds())
            run.rounds += 1
            this = Round(len(moves))
            await self._start_moves(run, this, moves, targets, marks)
            if previous is not None:  # the round before is over before the next is planned
                await self._moves_over(run, previous)
                if not previous.done and not self._why_not(run):
                    return await self._end(run, STUCK, "a whole round of moves failed (see the namenode's log)")
            previous = this
        await self._end(run, STUCK, f"not balanced after {MAX_ROUNDS} rounds")

    async def _end(self, run, state, why):
        """End the run once the moves in flight are over (each copies, then deletes)."""
        await self._moves_over(run)
        run.end(state, why, self.clock.seconds())

    async def _moves_over(self, run, moves=None):
        """Wait until the moves in flight (or those of the Round ``moves``) are over."""
        while run.moves_in_flight if moves is None else moves.left:
            await self._pause(run)

    def _unreported(self, run):
        """{node id: bytes} the moves under way, and those done since the node's last heartbeat, add to (or take
        from) the space its heartbeat said it uses."""
        run.done_at = [(move, at) for move, at in run.done_at
                       if move.source.last_seen <= at or move.target.last_seen <= at]
        unreported = {}

        def moved(move, source=True, target=True):
            if source:
                unreported[move.source.id] = unreported.get(move.source.id, 0) - move.size
            if target:
                unreported[move.target.id] = unreported.get(move.target.id, 0) + move.size

        for move in run.in_flight.values():
            moved(move)
        for move, at in run.done_at:
            moved(move, move.source.last_seen <= at, move.target.last_seen <= at)
        return unreported

    def _why_not(self, run):
        """Why the run must stop now, or None."""
        if run.stop_asked:
            return "stopped on request"
        if not self.leading():
            return "this namenode no longer leads background work"
        if self.repair.safemode.on:
            return "the namenode is in safe mode"
        return None

    async def _plan(self, run, nodes, targets, unreported):
        """A round's moves, planned in the repair's cooperator's steps (a stop cuts it short) beside the moves under
        way."""
        def movable(block_id):
            if block_id not in targets:
                return None  # no file refers to it
            wanted, size = wanted_of(targets[block_id]), size_of(targets[block_id])
            counted = self._counted(block_id)
            return (size, counted) if len(counted) >= wanted else None

        def steps(moves):
            for _ in planning(nodes, movable, run.threshold, moves, limit=MOVES_PER_ROUND,
                              max_bytes=run.bandwidth * MB * ROUND_SECONDS, unreported=unreported,
                              busy=set(run.in_flight)):
                if run.stop_asked:
                    return
                yield

        moves = []
        await self.repair.cooperator.cooperate(steps(moves)).whenDone()
        return moves

    def _counted(self, block_id):
        """The replicas that count toward a block's replication: on live or stale nodes in service (the states as
        the registry last updated them)."""
        held = (self.registry.nodes[i] for i in self.registry.replicas.get(block_id, ()))
        return [n for n in held if n.state in (ALIVE, STALE) and n.admin == NORMAL]

    async def _start_moves(self, run, this, moves, targets, marks):
        """Start a round's moves, several at once: a batch starts when its two nodes have a request and the bytes to
        spare, and the bytes asked for since the run began fit the bandwidth. Returns once every batch has started
        (its moves may be in flight still), or on a stop, when none will."""
        # A batch carries a second of the bandwidth at most, so the throttle's steps stay short.
        waiting = list(batches(moves, min(BATCH_BYTES, run.bandwidth * MB)))
        run.moves_left += len(moves)
        while waiting:
            if self._why_not(run):
                unsent = sum(len(batch.moves) for batch in waiting)
                run.moves_left -= unsent
                this.left -= unsent
                return
            wait = run.started + run.bytes_sent / (run.bandwidth * MB) - self.clock.seconds()
            if wait > 0:
                await self._pause(run, wait)
                continue
            ready = next((i for i, b in enumerate(waiting) if self._has_room(run, b)), None)
            if ready is None:
                await self._pause(run)
                continue
            self._send(run, this, waiting.pop(ready), targets, marks)

    async def _pause(self, run, seconds=None):
        """Wait ``seconds`` (None: until a batch ends); a stop or a batch that ends cuts it short."""
        run.pause = defer.Deferred() if seconds is None else deferLater(self.clock, seconds)
        try:
            await run.pause
        except defer.CancelledError:
            pass
        run.pause = None

    def _has_room(self, run, batch):
        """Whether both nodes of ``batch`` may take one more request and its bytes (however big, when idle)."""
        for node in (batch.source, batch.target):
            requests, busy = run.load.get(node.id, (0, 0))
            if requests >= REQUESTS_PER_NODE or (busy and busy + batch.cost > self.repair.inflight_bytes):
                return False
        return True

    def _send(self, run, this, batch, targets, marks):
        for node in (batch.source, batch.target):
            requests, busy = run.load.get(node.id, (0, 0))
            run.load[node.id] = (requests + 1, busy + batch.cost)
        run.bytes_sent += batch.size
        run.moves_in_flight += len(batch.moves)
        run.in_flight.update((move.block_id, move) for move in batch.moves)
        moving = defer.Deferred.fromCoroutine(self._move_batch(run, this, batch, targets, marks.get(batch.source.id)))
        moving.addErrback(background_failure(log, "balancer moves failed"))
        moving.addCallback(lambda _: self._batch_over(run, this, batch))

    def _batch_over(self, run, this, batch):
        for node in (batch.source, batch.target):
            requests, busy = run.load[node.id]
            run.load[node.id] = (requests - 1, busy - batch.cost)
        for move in batch.moves:
            del run.in_flight[move.block_id]
        run.moves_in_flight -= len(batch.moves)
        run.moves_left -= len(batch.moves)
        this.left -= len(batch.moves)
        run.wake()

    async def _move_batch(self, run, this, batch, targets, mark):
        """Copy the batch's replicas to its target, then delete the source's of those every rule lets go."""
        source, target = batch.source, batch.target
        outcomes = await copy_blocks(self.datanodes, source, target, [move.block_id for move in batch.moves])
        # Checked when the deletes are sent, not when planned: repair may have trimmed a replica since. Nothing else
        # runs between these checks and repair's taking the replicas out of the map.
        self.registry.update_states()
        deletable = []
        for move in batch.moves:
            why = self._why_kept(move, outcomes, targets)
            if why:
                self._failed(run, move, why)
            else:
                deletable.append(move)
        if not deletable:
            return
        deleted = self.repair.delete_replicas(source, [move.block_id for move in deletable], mark)
        if deleted is None:
            for move in deletable:
                self._failed(run, move, "not deleted: no mark from the source yet, or the lease ran out")
            return
        await deleted
        for move in deletable:
            if move.block_id in source.blocks:
                self._failed(run, move, "the source kept its replica (stored again since the round began)")
                continue
            run.moves_done += 1
            this.done += 1
            run.bytes_moved += move.size
            run.done_at.append((move, self.clock.seconds()))
            log.info("balancer moved {block} ({size} bytes) from {src} to {dst}", block=move.block_id,
                     size=move.size, src=source.id, dst=target.id)

    def _why_kept(self, move, outcomes, targets):
        """Why the source's replica of a copied block must stay, or None (the target's copy is recorded)."""
        if move.block_id not in outcomes:
            return "the copy got no answer"
        if outcomes[move.block_id] is not None:
            return f"the copy failed: {outcomes[move.block_id]}"
        self.registry.add_replica(move.block_id, move.target.id)
        before = self._counted(move.block_id)
        after = [n for n in before if n.id != move.source.id and n.state == ALIVE]
        if (move.source.id not in {n.id for n in before} or len(after) < wanted_of(targets[move.block_id])
                or not keeps_racks([n.rack for n in before], [n.rack for n in after])):
            return "the source's replica is needed after all; repair trims what is extra"
        return None

    def _failed(self, run, move, why):
        run.moves_failed += 1
        log.warn("balancer: move of {block} from {src} to {dst} not done: {why}", block=move.block_id,
                 src=move.source.id, dst=move.target.id, why=why)

    async def _settle(self, run):
        """Wait until the moves in flight are over and every node in service has sent a heartbeat since: the next
        look is at the space the moves freed and filled as the nodes tell it."""
        await self._moves_over(run)
        since = self.clock.seconds()
        for _ in range(SETTLE_LIMIT):
            if run.stop_asked or all(n.last_seen > since for n in self.registry.writable()):
                break
            await deferLater(self.clock, SETTLE_POLL)
        run.done_at = []  # told by now, or by a node silent for a minute: its next heartbeat will tell


def background_balancer(balancer, clock, interval, threshold, bandwidth):
    """A service that starts a run every ``interval`` seconds on the leader when none is under way (a run finds
    nothing to do on a balanced cluster and ends at once)."""
    def run():
        if balancer.leading() and not balancer.repair.safemode.on and not balancer.busy:
            balancer.start(threshold, bandwidth, background=True)

    service = TimerService(interval, run)
    service.clock = clock
    return service
