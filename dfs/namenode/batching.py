"""Small blocks bound for the same datanode travel together: one request, and one round of fsyncs there.

A 16 KiB file costs a datanode far more in HTTP handling and disk syncs than in bytes, so while a batch is on its
way to a datanode, the small blocks that arrive for it wait and leave together as the next batch. A lone upload
never waits (nothing is in flight, so it leaves at once); under many concurrent uploads the batches grow by
themselves. Every block in a batch is durable on the datanode before the batch is answered.
"""

from collections import deque

from twisted.internet import defer

from dfs.errors import DFSError, NoSpace

SMALL_BLOCK = 1024 * 1024  # blocks up to this size are batched (larger ones are streamed)
MAX_BATCH_BYTES = 8 * 1024 * 1024
MAX_BATCH_BLOCKS = 64
IN_FLIGHT = 1  # batches on their way to one datanode at once: one measured best (bigger batches, less CPU per file)


class _Queue:
    def __init__(self):
        self.waiting = deque()  # (data, Deferred)
        self.in_flight = 0


class BlockBatcher:
    """``put(node, data)`` stores one small block on one datanode; a Deferred of (block id, length). Batches go
    through ``datanodes``, a dfs.peers.DatanodeClient."""

    def __init__(self, datanodes, clock, timeout=60.0):
        self.datanodes = datanodes
        self.clock = clock
        self.timeout = timeout
        self._queues = {}

    def put(self, node, data):
        queue = self._queues.setdefault(node.url, _Queue())
        answer = defer.Deferred()
        queue.waiting.append((data, answer))
        self._send_next(node.url, queue)
        return answer

    def _send_next(self, url, queue):
        if queue.in_flight >= IN_FLIGHT or not queue.waiting:
            return
        batch, size = [], 0
        while queue.waiting and len(batch) < MAX_BATCH_BLOCKS:
            data = queue.waiting[0][0]
            if batch and size + len(data) > MAX_BATCH_BYTES:
                break
            batch.append(queue.waiting.popleft())
            size += len(data)
        queue.in_flight += 1
        sent = defer.Deferred.fromCoroutine(self._send(url, batch))
        sent.addBoth(self._sent, url, queue)

    async def _send(self, url, batch):
        request = self.datanodes.batch(url, b"".join(data for data, _ in batch), [len(data) for data, _ in batch])
        request.addTimeout(self.timeout, self.clock)
        try:
            response = await request
            if response.code != 201:
                raise await datanode_refusal(response)
            stored = (await response.json())["blocks"]
            if len(stored) != len(batch):
                raise DFSError(f"datanode stored {len(stored)} blocks of a batch of {len(batch)}")
        except Exception as e:
            for _, answer in batch:
                answer.errback(e)
            return
        for (_, answer), block in zip(batch, stored):
            answer.callback((block["id"], block["length"]))

    def _sent(self, _, url, queue):
        queue.in_flight -= 1
        if queue.in_flight == 0 and not queue.waiting:
            del self._queues[url]
        else:
            self._send_next(url, queue)


async def datanode_refusal(response):
    """The error of a datanode's failed answer to a store: NoSpace for its 507 (no client retries that), else a
    DFSError quoting it."""
    body = await response.content()
    error = NoSpace if response.code == NoSpace.status else DFSError
    return error(f"datanode answered {response.code}: {body[:200]!r}")
