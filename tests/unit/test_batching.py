"""The small-block batcher's queueing: a lone block leaves at once, blocks that arrive meanwhile leave together."""

import json
from types import SimpleNamespace

from twisted.internet import defer
from twisted.internet.task import Clock

from dfs.namenode import batching
from dfs.namenode.batching import BlockBatcher
from dfs.peers import DatanodeClient


class _Response:
    def __init__(self, code, payload):
        self.code = code
        self._payload = payload

    def json(self):
        return defer.succeed(self._payload)

    def content(self):
        return defer.succeed(json.dumps(self._payload).encode())


class _Datanode:
    """Records each batch request and lets the test answer it."""

    def __init__(self):
        self.requests = []

    def request(self, method, url, params, data, headers):
        answer = defer.Deferred()
        self.requests.append((url, [int(n) for n in params["lengths"].split(",")], data, answer))
        return answer

    def answer(self, i, code=201):
        _, lengths, data, answer = self.requests[i]
        blocks, offset = [], 0
        for n in lengths:
            blocks.append({"id": data[offset:offset + n].hex(), "length": n})
            offset += n
        answer.callback(_Response(code, {"blocks": blocks}))


NODE = SimpleNamespace(url="http://dn1")


def test_a_lone_block_leaves_at_once_and_followers_share_the_next_batch(monkeypatch):
    monkeypatch.setattr(batching, "IN_FLIGHT", 1)
    http = _Datanode()
    batcher = BlockBatcher(DatanodeClient(http), Clock())
    first = batcher.put(NODE, b"a")
    assert len(http.requests) == 1, "nothing was in flight, so the block did not wait"
    later = [batcher.put(NODE, data) for data in (b"bb", b"ccc")]
    assert len(http.requests) == 1, "blocks wait while a batch is in flight"
    http.answer(0)
    assert first.result == (b"a".hex(), 1)
    assert http.requests[1][:3] == ("http://dn1/blocks/batch", [2, 3], b"bbccc")
    http.answer(1)
    assert [d.result for d in later] == [(b"bb".hex(), 2), (b"ccc".hex(), 3)]
    assert batcher._queues == {}


def test_a_batch_is_capped_in_bytes(monkeypatch):
    monkeypatch.setattr(batching, "IN_FLIGHT", 1)
    monkeypatch.setattr(batching, "MAX_BATCH_BYTES", 5)
    http = _Datanode()
    batcher = BlockBatcher(DatanodeClient(http), Clock())
    answers = [batcher.put(NODE, data) for data in (b"1", b"22", b"333", b"4444")]
    http.answer(0)
    assert http.requests[1][1] == [2, 3]
    http.answer(1)
    assert http.requests[2][1] == [4]
    http.answer(2)
    assert all(d.called for d in answers)


def test_a_failed_batch_fails_each_of_its_blocks_and_the_queue_goes_on(monkeypatch):
    monkeypatch.setattr(batching, "IN_FLIGHT", 1)
    http = _Datanode()
    batcher = BlockBatcher(DatanodeClient(http), Clock())
    first = batcher.put(NODE, b"a")
    second = batcher.put(NODE, b"b")
    http.answer(0, code=507)
    failure = []
    first.addErrback(failure.append)
    assert "507" in failure[0].getErrorMessage()
    http.answer(1)
    assert second.result == (b"b".hex(), 1)


def test_an_unanswered_batch_times_out():
    clock = Clock()
    http = _Datanode()
    batcher = BlockBatcher(DatanodeClient(http), clock, timeout=5)
    answer = batcher.put(NODE, b"a")
    errors = []
    answer.addErrback(errors.append)
    clock.advance(6)
    assert errors and errors[0].check(defer.TimeoutError)


def test_a_cancelled_block_leaves_the_rest_of_its_batch_alone(monkeypatch):
    """A client that goes away cancels its upload; the other blocks of the batch still get their answers."""
    monkeypatch.setattr(batching, "IN_FLIGHT", 1)
    http = _Datanode()
    batcher = BlockBatcher(DatanodeClient(http), Clock())
    first = batcher.put(NODE, b"a")
    gone, stays = batcher.put(NODE, b"b"), batcher.put(NODE, b"c")
    gone.addErrback(lambda f: None)
    gone.cancel()
    http.answer(0)
    http.answer(1)
    assert first.result == (b"a".hex(), 1) and stays.result == (b"c".hex(), 1)
