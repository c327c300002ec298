"""The namenode's write fan-out: cut a byte stream into blocks and stream each block to its replicas at once.

Every chunk read from the client goes to all targets before the next is read, and the next read waits until
every live target's connection has drained, so a slow datanode slows the upload instead of filling memory.
Small blocks of a known length are read whole and sent in batches instead (dfs.namenode.batching).
Each block is pinned (dfs.namenode.pins) under the SHA-256 of its bytes before a datanode can store it: the last
chunk of a block leaves only once the pin is committed.
"""

import hashlib

from twisted.internet import defer
from twisted.internet.error import ConnectionDone
from twisted.logger import Logger
from twisted.web.iweb import UNKNOWN_LENGTH, IBodyProducer
from zope.interface import implementer

from dfs.errors import BadRequest, NoSpace, Unavailable
from dfs.namenode.batching import SMALL_BLOCK, BlockBatcher, datanode_refusal
from dfs.namenode.namespace.model import Extent
from dfs.namenode.placement import choose_targets, require_targets
from dfs.streams import Pausable

log = Logger()

CHUNK = 1024 * 1024


@implementer(IBodyProducer)
class _TargetBody(Pausable):
    """The request body of one replica's upload, fed chunk by chunk by the fan-out loop."""

    def __init__(self, length):
        self.length = length
        self.started = defer.Deferred()
        self.alive = True
        self._consumer = None
        self._finished = None
        self._ending = False

    def startProducing(self, consumer):
        self._consumer = consumer
        self._finished = defer.Deferred()
        if not self.started.called:
            self.started.callback(True)
        return self._finished

    def write(self, data):
        if self.alive:
            self._consumer.write(data)

    def writable(self):
        """A Deferred that fires when the connection has room for more."""
        return self.drained() if self.alive else defer.succeed(None)

    def stopProducing(self):
        self.fail()
        if self._finished is not None and not self._finished.called:
            self._finished.errback(ConnectionDone("upload to datanode stopped"))

    def fail(self):
        self.alive = False
        if not self.started.called:
            self.started.callback(False)
        self.resumeProducing()

    def finish(self):
        """The whole body is written: say so once the connection is no longer holding it paused. Twisted's
        transport keeps its 'producer paused' flag across producers, so a body that ended paused would have the
        pooled connection's next request body resumed without being paused (a FileBodyProducer then raises
        NotPaused and the connection breaks)."""
        self._ending = True
        if self._resumed is None:
            self._end()

    def resumeProducing(self):
        super().resumeProducing()
        if self._ending:
            self._end()

    def _end(self):
        if self.alive and self._finished is not None and not self._finished.called:
            self._finished.callback(None)


class FanOut:
    """Writes streams as replicated blocks to ``datanodes`` (a dfs.peers.DatanodeClient), each pinned until its
    upload's caller calls ``release``."""

    def __init__(self, datanodes, registry, clock, pins, stall_timeout=60.0):
        self.datanodes = datanodes
        self.registry = registry
        self.clock = clock
        self.pins = pins
        self.stall_timeout = stall_timeout
        self.batcher = BlockBatcher(datanodes, clock, timeout=stall_timeout)
        self.bytes_written = 0

    async def write_stream(self, read, total, block_size, replication, min_replicas, writer=None):
        """Store what ``read(n)`` yields (bytes, or a Deferred of bytes; b"" at the end) as blocks; the extents.
        Each block's first replica goes to a datanode on the host ``writer`` (the client's address) if one is there.

        With ``total`` known every block is sent with a Content-Length and a short body is an error; with
        ``total`` None (a chunked upload) blocks are sent chunked and the stream's end ends the file.
        """
        extents = []
        remaining = total
        try:
            while remaining is None or remaining > 0:
                limit = block_size if remaining is None else min(block_size, remaining)
                first = await _read(read, min(CHUNK, limit))
                if not first:
                    if remaining is not None:
                        raise BadRequest(f"request body ended {remaining} bytes early")
                    break
                extent = await self.write_block(first, read, limit, remaining is not None, replication,
                                                min_replicas, writer)
                extents.append(extent)
                if remaining is not None:
                    remaining -= extent.length
                elif extent.length < limit:
                    break
        except BaseException:
            self.release(extents)  # the caller never sees these blocks: abandoned
            raise
        return extents

    def release(self, extents):
        """The caller committed (or abandoned) these blocks: GC may judge them from now on."""
        for ext in extents:
            self.pins.release(ext.block_id)

    async def write_block(self, first, read, limit, exact, replication, min_replicas, writer=None):
        """Send one block (``first`` chunk, then more from ``read`` up to ``limit`` bytes) to its replicas."""
        candidates = self.registry.writable()
        wanted = min(replication, len(candidates))
        minimum = max(1, min(min_replicas, wanted))
        targets = require_targets(candidates, wanted, minimum, limit, writer=writer)
        if exact and limit <= SMALL_BLOCK:
            block_id, length, stored = await self._send_small(targets, await _read_exactly(first, read, limit))
        else:
            block_id, length, stored = await self._stream_to(targets, first, read, limit if exact else None, limit)
        if len(stored) < wanted:  # _replace never raises: the pin is released below or by the caller
            stored += await self._replace(block_id, length, stored, wanted - len(stored), {t.id for t in targets})
        if len(stored) < minimum:
            self.pins.release(block_id)
            raise Unavailable(
                f"Block of {length} bytes reached {len(stored)} datanode(s), {minimum} required; nothing was committed"
            )
        for node in stored:
            self.registry.add_replica(block_id, node.id)
        self.bytes_written += length
        return Extent(block_id, 0, length, length)

    async def _stream_to(self, targets, first, read, length, limit):
        """Stream one block to every target at once; (block id, length, nodes that stored it).

        ``length`` is the exact block length when known (sent as Content-Length), else None (sent chunked,
        ending at ``limit`` bytes or the end of the stream). A datanode stores the block once it has the whole
        body, so the last chunk (or the end of a chunked body) waits for the block's pin."""
        bodies, answers = [], []
        block_id, hasher = None, hashlib.sha256()
        for node in targets:
            body = _TargetBody(UNKNOWN_LENGTH if length is None else length)
            d = self.datanodes.upload(node.url, body)
            d.addCallback(_stored_block)
            d.addErrback(_fail_body, body)
            bodies.append(body)
            answers.append(d)
        try:
            await defer.gatherResults([b.started for b in bodies])
            sent, chunk = 0, first
            while chunk:
                sent += len(chunk)
                hasher.update(chunk)
                if length is not None and sent >= length:
                    block_id = await self._pin(hasher)
                live = [b for b in bodies if b.alive]
                for body in live:
                    body.write(chunk)
                if length is not None and sent >= length:
                    break  # finish at once: a fast datanode may answer before its connection has drained
                for body, answer in zip(bodies, answers):
                    if body.alive:
                        await self._wait_writable(body, answer)
                if not any(b.alive for b in bodies) or sent >= limit:
                    break
                chunk = await _read(read, min(CHUNK, limit - sent))
            if length is not None and sent < length:
                raise BadRequest(f"request body ended {length - sent} bytes early")
            if block_id is None:
                block_id = await self._pin(hasher)
        except BaseException:
            for d in answers:
                d.cancel()
                d.addErrback(lambda f: None)  # the cancelled uploads' outcomes are known: the block failed
            if block_id is not None:
                self.pins.release(block_id)
            raise
        for body in bodies:
            body.finish()
        return await self._outcome(targets, answers, block_id, sent)

    async def _send_small(self, targets, data):
        """A small block goes to each target in that datanode's next batch; same outcome as ``_stream_to``."""
        block_id = await self._pin(hashlib.sha256(data))
        return await self._outcome(targets, [self.batcher.put(node, data) for node in targets], block_id, len(data))

    async def _pin(self, hasher):
        block_id = hasher.hexdigest()
        await self.pins.pin(block_id)
        return block_id

    async def _outcome(self, targets, answers, block_id, sent):
        """(block id, length, nodes that stored it) from each target's (id, length) answer. Each datanode names
        the block by the SHA-256 of what it stored: one that names another id than ours got other bytes. A block
        no datanode stored is given up here (its pin released)."""
        results = await defer.DeferredList(answers, consumeErrors=True)
        stored = []
        for node, (ok, result) in zip(targets, results):
            if not ok:
                log.warn("upload to datanode {node} failed: {why}", node=node.id, why=result.getErrorMessage())
            elif result != (block_id, sent):
                log.error("datanode {node} stored {got} ({size} bytes), not {block} ({sent} bytes)", node=node.id,
                          got=result[0], size=result[1], block=block_id, sent=sent)
            else:
                stored.append(node)
        if not stored:
            self.pins.release(block_id)
            if all(not ok and result.check(NoSpace) for ok, result in results):  # not worth a retry: 507
                raise NoSpace(f"every datanode asked to store a block of {sent} bytes is out of space; nothing was "
                              "committed")
            raise Unavailable(f"Block of {sent} bytes reached no datanode; nothing was committed")
        return block_id, sent, stored

    async def _wait_writable(self, body, answer):
        waiting = body.writable()
        if waiting.called:
            return
        waiting.addTimeout(self.stall_timeout, self.clock)
        try:
            await waiting
        except defer.TimeoutError:
            log.warn("a datanode accepted nothing for {t}s; dropping it from this block", t=self.stall_timeout)
            body.fail()
            answer.cancel()

    async def _replace(self, block_id, length, stored, count, tried):
        """Copy a freshly stored block from a node that has it to nodes that were not tried yet."""
        added = []
        for node in choose_targets(self.registry.writable(), count, length, exclude=tried, placed=stored):
            tried.add(node.id)
            source = stored[0]
            try:
                await _check(await self.datanodes.fetch(node.url, block_id, source.url))
                added.append(node)
            except Exception as e:
                log.warn("replacement copy of {block} to {node} failed: {e}", block=block_id, node=node.id, e=e)
        return added


async def _read(read, n):
    chunk = read(n)
    if isinstance(chunk, defer.Deferred) or hasattr(chunk, "__await__"):
        chunk = await chunk
    return chunk


async def _read_exactly(first, read, length):
    """The whole of a small block whose first chunk is in hand."""
    parts, have = [first], len(first)
    while have < length:
        chunk = await _read(read, length - have)
        if not chunk:
            raise BadRequest(f"request body ended {length - have} bytes early")
        parts.append(chunk)
        have += len(chunk)
    return b"".join(parts)


async def _check(response):
    if response.code >= 300:
        raise await datanode_refusal(response)
    return response


async def _stored_block_async(response):
    await _check(response)
    answer = await response.json()
    return answer["id"], answer["length"]


def _stored_block(response):
    return defer.Deferred.fromCoroutine(_stored_block_async(response))


def _fail_body(failure, body):
    body.fail()
    return failure
