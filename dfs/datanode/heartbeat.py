"""The datanode's links to the namenodes: register, heartbeat, and periodic full block reports, to each."""

from collections import deque
from urllib.parse import urlsplit

from twisted.internet import defer
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from dfs import protocol
from dfs.version import version

log = Logger()


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

    def report_now(self):
        for link in self.links:
            link.report_now()

    def report_corrupt(self, block_ids):
        """Tell every namenode (each link logs its own failure)."""
        return defer.gatherResults([defer.Deferred.fromCoroutine(link.report_corrupt(block_ids))
                                    for link in self.links])


class NamenodeLink:
    """Keeps this datanode known to the namenode (through ``namenode``, a dfs.peers.NamenodeClient); re-registers
    whenever the namenode forgets it (e.g. a restart)."""

    def __init__(self, namenode, store, identity, clock, in_thread, interval=3.0, report_every=20, rack=None):
        self.namenode = namenode
        self.rack = rack  # sent with every registration and heartbeat: a namenode may have missed a change
        self.store = store
        self.identity = identity
        self.clock = clock
        self.interval = interval
        self.report_every = report_every
        self.in_thread = in_thread
        self.url = None
        self.public_url = None
        self.registered = False
        self.protocol = None  # the protocol version spoken with this namenode, once registered (dfs.protocol)
        self._beats = 0
        self._report_due = False  # a full report goes with the next beat: blocks were lost (a failed disk)
        self._loop = None
        # Blocks stored since the last beat this namenode answered: each heartbeat tells them (HDFS's incremental
        # block report), so a namenode that did not take part in an upload learns its replicas within a beat.
        self._new_blocks = deque()
        store.on_new_block.append(self._new_blocks.append)

    def start(self, url, public_url):
        self.url, self.public_url = url, public_url
        self._loop = LoopingCall(self.beat)
        self._loop.clock = self.clock
        self._loop.start(self.interval, now=True)

    def stop(self):
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        if self._new_blocks.append in self.store.on_new_block:  # a link dropped for good must not keep collecting
            self.store.on_new_block.remove(self._new_blocks.append)

    def report_now(self):
        """Send a full block report with the next beat instead of a heartbeat."""
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
        self._beats += 1
        if self._report_due or self._beats % self.report_every == 0:
            self._report_due = False
            blocks = await self._blocks_on_disk()
            await self._call(self.namenode.block_report(self.identity["id"], blocks))
        else:
            drained = [self._new_blocks.popleft() for _ in range(len(self._new_blocks))]
            held = self.store.block_ids
            new = [block_id for block_id in drained if block_id in held]  # not one quarantined since it landed
            usage = {**self.store.usage(), "mark": self.store.mark(), "received": new, "rack": self.rack}
            await self._call(self.namenode.heartbeat(self.identity["id"], usage))  # if lost, registering tells
        if not self.registered:  # a restarted namenode waits for this report to leave safe mode: send it now
            await self.register()

    async def report_corrupt(self, block_ids):
        """Tell the namenode these copies are bad (already quarantined here) so it re-replicates them."""
        try:
            await self._call(self.namenode.report_corrupt(self.identity["id"], list(block_ids)))
        except Exception as e:
            log.warn("could not report corrupt blocks {blocks}: {e}", blocks=block_ids, e=e)

    async def _blocks_on_disk(self):
        """A full block report: what the disk holds now, without blocks removed behind this datanode's back."""
        await self.in_thread(self.store.prune_missing_sync)
        return sorted(self.store.block_ids)

    async def register(self):
        self._new_blocks.clear()  # the registration's full report holds them
        body = {
            "id": self.identity["id"],
            "cluster_id": self.identity.get("cluster_id"),
            "url": self.url,
            "public_url": self.public_url,
            "blocks": await self._blocks_on_disk(),
            "version": version(),
            **protocol.offered(),
            "rack": self.rack,
            **self.store.usage(),
            "mark": self.store.mark(),
        }
        answer = await self._call(self.namenode.register(body), registering=True)
        if answer is None:
            return
        try:
            self.protocol = protocol.agreed(self.namenode.url, answer)
        except protocol.ProtocolMismatch as e:
            log.error("cannot register with namenode {url}: {e}", url=self.namenode.url, e=e)
            return
        if self.identity.get("cluster_id") != answer["cluster_id"]:
            self.store.remember_cluster(self.identity, answer["cluster_id"])
        self.registered = True
        log.info("registered with namenode {url} as {node} ({blocks} blocks, protocol {protocol})",
                 url=self.namenode.url, node=self.identity["id"], blocks=len(body["blocks"]), protocol=self.protocol)

    async def _call(self, sent, registering=False):
        """The namenode's answer to the request ``sent``, or None when it refused it (a 404 to anything but a
        registration: it forgot this datanode)."""
        response = await sent
        answer = await response.json()
        if response.code == 404 and not registering:
            log.info("namenode forgot this datanode; registering again")
            self.registered = False
            return None
        if response.code >= 300:
            message = answer.get("RemoteException", {}).get("message", answer)
            path = urlsplit(response.request.absoluteURI).path.decode()
            log.error("namenode refused {path}: {code} {message}", path=path, code=response.code, message=message)
            self.registered = False
            return None
        return answer
