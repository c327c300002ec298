"""The datanode's links to the namenodes: register, heartbeat with incremental block reports, and rare full block
reports in pieces, to each."""

import random
import uuid
from collections import deque
from urllib.parse import urlsplit

from twisted.internet import defer
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from dfs import blockreports, protocol
from dfs.version import version

log = Logger()

REPORT_INTERVAL = 6 * 3600.0  # seconds between full block reports, HDFS's dfs.blockreport.intervalMsec
CHANGES_PER_BEAT = 10000  # block changes told in one heartbeat: about 700 KB of JSON
# Registrations in a row a namenode may refuse for the protocol version before this datanode gives up on it: a
# namenode being replaced may answer as another release for a moment, and a datanode that cannot work must still
# fail well within a rolling update's watch of it (Docker swarm's update_config monitor: 60 s in docker-stack.yml).
REFUSALS_TO_GIVE_UP = 5


class NamenodeLinks:
    """One NamenodeLink per namenode, each beating on its own clock, so a slow or dead namenode delays no other and
    the datanode stays known to every namenode that lives."""

    def __init__(self, links):
        self.links = links

    def start(self, url, public_url):
        for link in self.links:
            link.start(url, public_url)

    def stop(self):
        for link in self.links:
            link.stop()

    def registered_anywhere(self):
        return any(link.registered for link in self.links)

    def report_corrupt(self, block_ids):
        """Tell every namenode (each link logs its own failure)."""
        return defer.gatherResults([defer.Deferred.fromCoroutine(link.report_corrupt(block_ids))
                                    for link in self.links])


class NamenodeLink:
    """Keeps this datanode known to the namenode (through ``namenode``, a dfs.peers.NamenodeClient); re-registers
    whenever the namenode forgets it (e.g. a restart).

    Every block that lands or leaves is told with the next heartbeat (HDFS's incremental block report), so the
    namenode knows within a beat. A full report, in pieces, follows each registration, a request of the namenode,
    and then every ``report_interval`` seconds, the first of them after a random share of it (``stagger()``) so
    that datanodes started together do not report together.

    A namenode that refuses ``REFUSALS_TO_GIVE_UP`` registrations in a row for the protocol version (the two share
    none) is given up on: ``give_up(reason)`` is called, and again at each refusal after."""

    def __init__(self, namenode, store, identity, clock, in_thread, interval=3.0, report_interval=REPORT_INTERVAL,
                 rack=None, stagger=random.random, give_up=lambda reason: None):
        self.namenode = namenode
        self.rack = rack  # sent with every registration and heartbeat: a namenode may have missed a change
        self.store = store
        self.identity = identity
        self.clock = clock
        self.interval = interval
        self.report_interval = report_interval
        self.stagger = stagger
        self.in_thread = in_thread
        self.url = None
        self.public_url = None
        self.registered = False
        self.protocol = None  # the protocol version spoken with this namenode, once registered (dfs.protocol)
        self.give_up = give_up
        self._refusals = 0  # registrations refused in a row for the protocol version
        self._report_due = False  # a full report goes with the next beat
        self._next_report = None  # when the next periodic full report is due (the clock's seconds)
        self._loop = None
        # (block id, whether it landed or left) since the last heartbeat this namenode answered: appended from disk
        # threads, in the order they happened.
        self._changes = deque()
        store.on_new_block.append(self._received)
        store.on_gone_block.append(self._gone)

    def _received(self, block_id):
        self._changes.append((block_id, True))

    def _gone(self, block_id):
        self._changes.append((block_id, False))

    def start(self, url, public_url):
        self.url, self.public_url = url, public_url
        self._loop = LoopingCall(self.beat)
        self._loop.clock = self.clock
        self._loop.start(self.interval, now=True)

    def stop(self):
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        for listeners, listener in ((self.store.on_new_block, self._received), (self.store.on_gone_block, self._gone)):
            if listener in listeners:  # a link dropped for good must not keep collecting
                listeners.remove(listener)

    def report_now(self):
        """Send a full block report with the next beat (the namenode asked for one)."""
        self._report_due = True

    def beat(self):
        d = defer.Deferred.fromCoroutine(self._beat())
        d.addErrback(self._unreachable)
        return d

    def _unreachable(self, failure):
        if self.registered:
            log.warn("namenode {url} unreachable: {why}", url=self.namenode.url, why=failure.getErrorMessage())
        self.registered = False

    async def _beat(self):
        if not self.registered:
            await self.register()
            return
        if self._report_due or self.clock.seconds() >= self._next_report:
            if not await self._full_report():
                return
        await self._heartbeats()
        if not self.registered:  # a restarted namenode waits for this report to leave safe mode: send it now
            await self.register()

    async def _heartbeats(self):
        """A heartbeat with the blocks that landed and left since the last one, and one more for each further
        ``CHANGES_PER_BEAT`` of them. Those of a heartbeat that fails are not sent again: registering again sends a
        full report."""
        latest = {}  # a block that came and went is told once, as it is now
        for _ in range(len(self._changes)):
            block_id, held = self._changes.popleft()
            latest[block_id] = held
        changes = list(latest.items())
        for start in range(0, max(1, len(changes)), CHANGES_PER_BEAT):
            batch = changes[start:start + CHANGES_PER_BEAT]
            usage = {**self.store.usage(), "mark": self.store.mark(), "rack": self.rack,
                     "received": [block_id for block_id, held in batch if held],
                     "deleted": [block_id for block_id, held in batch if not held]}
            answer = await self._call(self.namenode.heartbeat(self.identity["id"], usage))
            if answer is None:
                return
            if answer.get("full_report"):
                self.report_now()

    async def _full_report(self):
        """Send every block held, in pieces (at once to a namenode of the previous release's protocol); whether it was
        taken. The changes after the snapshot follow in heartbeats, after the report."""
        self._report_due = False
        blocks = await self.in_thread(self.store.report_sync)
        node_id = self.identity["id"]
        if self.protocol < protocol.REPORTS_IN_PIECES:
            answer = await self._call(self.namenode.block_report(node_id, blocks))
        else:
            report_id = uuid.uuid4().hex
            pieces = await self.in_thread(blockreports.pieces, blocks)
            for number, piece in enumerate(pieces):
                answer = await self._call(self.namenode.report_piece(node_id, report_id, number, len(pieces), piece))
                if answer is None:
                    break
        if answer is None:
            return False
        self._next_report = self.clock.seconds() + self.report_interval
        log.info("full block report of {blocks} blocks sent to {url}", blocks=len(blocks), url=self.namenode.url)
        return True

    async def report_corrupt(self, block_ids):
        """Tell the namenode these copies are bad (already quarantined here) so it re-replicates them."""
        try:
            await self._call(self.namenode.report_corrupt(self.identity["id"], list(block_ids)))
        except Exception as e:
            log.warn("could not report corrupt blocks {blocks}: {e}", blocks=block_ids, e=e)

    async def register(self):
        self._changes.clear()  # the full report that follows holds them
        body = {
            "id": self.identity["id"],
            "cluster_id": self.identity.get("cluster_id"),
            "url": self.url,
            "public_url": self.public_url,
            "version": version(),
            **protocol.offered(),
            "rack": self.rack,
            **self.store.usage(),
            "mark": self.store.mark(),
        }
        try:
            answer = await self._call(self.namenode.register(body), registering=True)
            if answer is None:
                return
            self.protocol = protocol.agreed(self.namenode.url, answer)
        except protocol.ProtocolMismatch as e:
            self._mismatched(e)
            return
        self._refusals = 0
        if self.identity.get("cluster_id") != answer["cluster_id"]:
            self.store.remember_cluster(self.identity, answer["cluster_id"])
        self.registered = True
        log.info("registered with namenode {url} as {node} (protocol {protocol})", url=self.namenode.url,
                 node=self.identity["id"], protocol=self.protocol)
        if await self._full_report():
            self._next_report = self.clock.seconds() + self.stagger() * self.report_interval

    def _mismatched(self, mismatch):
        self._refusals += 1
        log.error("cannot register with namenode {url}: {e}", url=self.namenode.url, e=mismatch)
        if self._refusals >= REFUSALS_TO_GIVE_UP:
            self.give_up(f"namenode {self.namenode.url} shares no protocol version with this datanode"
                         f" ({self._refusals} registrations in a row): {mismatch}")

    async def _call(self, sent, registering=False):
        """The namenode's answer to the request ``sent``, or None when it refused it (a 404 to anything but a
        registration: it forgot this datanode); ProtocolMismatch when it refused a registration for the protocol
        version."""
        response = await sent
        answer = await response.json()
        if response.code == 404 and not registering:
            log.info("namenode forgot this datanode; registering again")
            self.registered = False
            return None
        if response.code >= 300:
            mismatch = protocol.refusal(answer) if registering else None
            if mismatch is not None:
                raise mismatch
            message = answer.get("RemoteException", {}).get("message", answer)
            path = urlsplit(response.request.absoluteURI).path.decode()
            log.error("namenode refused {path}: {code} {message}", path=path, code=response.code, message=message)
            self.registered = False
            return None
        return answer
