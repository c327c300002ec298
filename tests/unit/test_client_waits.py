"""Every client request is bounded (connect and read timeouts), names dfs, and waits out back-pressure."""

import json
import time

import pytest
import pytest_twisted
from treq.testing import StubTreq
from twisted.internet import reactor
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import Clock
from twisted.web.resource import Resource
from twisted.web.server import Site

from dfs.client.config import resolve
from dfs.client.core import Client
from dfs.client.retry import Backoff
from dfs.errors import BadRequest, NoSpace, Unavailable
from dfs.http import USER_AGENT, Timeouts, make_http


class Silent(Protocol):
    """A peer that accepts connections and never answers (as a SIGSTOPped namenode does)."""


class Echo(Resource):
    isLeaf = True

    def render_GET(self, request):
        return request.getHeader(b"User-Agent")


@pytest_twisted.ensureDeferred
async def test_a_frozen_server_fails_the_request_after_the_read_timeout():
    port = reactor.listenTCP(0, Factory.forProtocol(Silent), interface="127.0.0.1")
    url = f"http://127.0.0.1:{port.getHost().port}"
    http, pool = make_http(reactor, timeouts=Timeouts(connect=5, read=0.5))
    started = time.monotonic()
    try:
        client = Client(http, url)
        with pytest.raises(Unavailable) as raised:
            await client.ls("/")
    finally:
        await pool.closeCachedConnections()
        await port.stopListening()
    assert time.monotonic() - started < 5
    assert raised.value.message == f"cannot reach the namenode at {url}: no response for 0.5s (read timeout)"


@pytest_twisted.ensureDeferred
async def test_every_request_names_dfs_and_its_version():
    port = reactor.listenTCP(0, Site(Echo()), interface="127.0.0.1")
    http, pool = make_http(reactor)
    try:
        response = await http.get(f"http://127.0.0.1:{port.getHost().port}/")
        assert (await response.content()).decode() == USER_AGENT
    finally:
        await pool.closeCachedConnections()
        await port.stopListening()
    assert USER_AGENT.startswith("dfs/")


class Scripted(Resource):
    """Answers each request with the next (status, headers) of ``script``, then 200 with a listing."""

    isLeaf = True

    def __init__(self, script):
        super().__init__()
        self.script = list(script)
        self.seen = []

    def render(self, request):
        self.seen.append((request.method, request.content.read()))
        if self.script:
            status, headers = self.script.pop(0)
            request.setResponseCode(status)
            for name, value in headers.items():
                request.setHeader(name, value)
            return json.dumps({"RemoteException": {"exception": "RetriableException", "message": "busy",
                                                   "javaClassName": "x"}}).encode()
        return json.dumps({"FileStatuses": {"FileStatus": []}, "boolean": True}).encode()


def scripted_client(*script):
    resource = Scripted(script)
    clock = Clock()
    client = Client(StubTreq(resource), "http://nn", reactor=clock, backoff=Backoff(random=lambda: 0.0))
    return client, resource, clock


def test_back_pressure_is_waited_out_with_growing_waits_never_shorter_than_retry_after():
    client, resource, clock = scripted_client((429, {}), (503, {"Retry-After": "3"}), (429, {}))
    d = client.ls("/")
    waits = []
    for _ in range(10):
        if d.called:
            break
        waits.append(clock.getDelayedCalls()[0].getTime() - clock.seconds())
        clock.advance(waits[-1])
    assert d.result == []
    assert waits == [0.5, 3.0, 2.0]
    assert len(resource.seen) == 4


def test_backoff_is_capped_jittered_and_bounded():
    backoff = Backoff(attempts=3, base=1, cap=5, random=lambda: 1.0)

    class Answer:
        def __init__(self, code, retry_after=None):
            self.code = code
            self.headers = type("H", (), {"getRawHeaders": lambda _, name: [retry_after] if retry_after else None})()

    assert [backoff.delay(n, Answer(429), 0) for n in range(4)] == [1.5, 3.0, 5, None]
    assert backoff.delay(0, Answer(503, "Thu, 01 Jan 1970 00:01:40 GMT"), 90) == 5  # 10 s later, capped
    assert backoff.delay(0, Answer(503), 0) is None  # a 503 that names no time is an answer


def test_gives_up_after_the_last_attempt():
    client, resource, clock = scripted_client(*[(429, {})] * 3)
    client.backoff = Backoff(attempts=2, random=lambda: 0.0)
    d = client.ls("/")
    for _ in range(5):
        clock.advance(60)
    assert d.result.value.status == 429
    d.addErrback(lambda _: None)
    assert len(resource.seen) == 3


@pytest.mark.parametrize("status, headers, error", [(507, {}, NoSpace), (503, {}, Unavailable)])
def test_out_of_space_and_plain_unavailability_are_not_retried(status, headers, error):
    client, resource, clock = scripted_client((status, headers))
    d = client.ls("/")
    assert isinstance(d.result.value, error)
    d.addErrback(lambda _: None)
    assert len(resource.seen) == 1


def test_a_change_the_retry_cache_answers_is_sent_again_and_one_it_does_not_is_not():
    client, resource, clock = scripted_client((429, {}))
    d = client.truncate("/f", 0)  # a POST, sent again with its operation id: it is made at most once
    clock.advance(60)
    assert d.called and len(resource.seen) == 2
    client, resource, clock = scripted_client((429, {}))
    d = client.trash_expunge()  # several transactions, no operation id
    assert d.result.value.status == 429
    d.addErrback(lambda _: None)
    assert len(resource.seen) == 1


def test_timeouts_come_from_the_option_then_the_environment_then_the_config_file(monkeypatch, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text("read_timeout = 7\nconnect_timeout = 8\n")
    monkeypatch.setenv("DFS_CONFIG", str(config))
    monkeypatch.setenv("DFS_CONNECT_TIMEOUT", "3")
    monkeypatch.delenv("DFS_READ_TIMEOUT", raising=False)
    assert resolve()["timeouts"] == Timeouts(connect=3, read=7)
    assert resolve(read_timeout=9)["timeouts"] == Timeouts(connect=3, read=9)
    monkeypatch.setenv("DFS_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.delenv("DFS_CONNECT_TIMEOUT")
    assert resolve()["timeouts"] == Timeouts(connect=10, read=60)
    with pytest.raises(BadRequest):
        resolve(read_timeout="soon")


def test_a_connection_we_paused_ourselves_is_not_timed_out():
    # A relay that stops reading because its own reader is slow must not blame the peer: the read timeout runs only
    # while we are willing to read.
    from twisted.internet.protocol import Protocol
    from twisted.internet.testing import StringTransport
    from twisted.protocols.policies import WrappingFactory

    from dfs.http import _ReadTimeoutProtocol

    clock = Clock()
    wrapper = _ReadTimeoutProtocol(WrappingFactory(None), Protocol(), clock, 60)
    transport = StringTransport()
    wrapper.makeConnection(transport)
    wrapper.pauseProducing()
    clock.advance(600)
    assert not transport.disconnecting and not wrapper._timed_out
    wrapper.resumeProducing()
    clock.advance(61)
    assert wrapper._timed_out


def test_a_quiet_request_body_is_not_timed_out_until_the_peer_stops_taking_it():
    # `slow-command | dfs put -`: the body's source may be quiet for minutes; the peer is at fault only once our
    # writes back up (the transport pauses the body) or the body is done and the answer is due.
    from twisted.internet.protocol import Protocol
    from twisted.internet.testing import StringTransport
    from twisted.protocols.policies import WrappingFactory

    from dfs.http import _ReadTimeoutProtocol

    class Body:
        paused = False

        def pauseProducing(self):
            self.paused = True

        def resumeProducing(self):
            self.paused = False

        def stopProducing(self):
            pass

    def connection():
        clock = Clock()
        wrapper = _ReadTimeoutProtocol(WrappingFactory(None), Protocol(), clock, 60)
        transport = StringTransport()
        wrapper.makeConnection(transport)
        body = Body()
        wrapper.registerProducer(body, True)
        return clock, wrapper, transport, body

    clock, wrapper, transport, body = connection()
    clock.advance(600)
    assert not wrapper._timed_out, "a quiet source is not a frozen peer"
    transport.producer.pauseProducing()  # the peer stopped taking bytes
    assert body.paused
    clock.advance(61)
    assert wrapper._timed_out

    clock, wrapper, transport, body = connection()
    wrapper.write(b"the whole body")
    wrapper.unregisterProducer()  # sent: the answer is due
    clock.advance(61)
    assert wrapper._timed_out
