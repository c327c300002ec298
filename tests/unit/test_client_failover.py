"""A client given several namenodes moves to the next one when one cannot be reached or answers 503, and sends a
change whose namenode went away again with the same client operation id (the namenodes' retry cache answers it)."""

import io
import json
import socket

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Site

from dfs.client.config import namenode_urls, resolve
from dfs.client.core import Client
from dfs.client.retry import Backoff
from dfs.errors import BadRequest, OutcomeUnknown, Unavailable
from dfs.http import Timeouts, make_http

DATA = b"the bytes of the upload"


class Seen(list):
    """The requests fake namenodes took, as (name, op); ``ids`` their client operation ids (None: none)."""

    def __init__(self):
        super().__init__()
        self.ids = []


class FakeNamenode(Resource):
    """A namenode that behaves as ``how`` says: "ok", "503", "drop" (take the request, then cut the connection
    without answering, as a namenode killed mid-request does), or "freeze" (never answer). Requests are logged in ``seen`` (a Seen)."""

    isLeaf = True

    def __init__(self, name, how, seen):
        super().__init__()
        self.name, self.how, self.seen = name, how, seen

    def render(self, request):
        op = request.args[b"op"][0].decode()
        request.content.read()
        self.seen.append((self.name, op))
        ids = [request.args.get(name, [b""])[0].decode() for name in (b"clientid", b"callid")]
        self.seen.ids.append(tuple(ids) if all(ids) else None)
        if self.how == "drop":
            request.transport.abortConnection()
            return NOT_DONE_YET
        if self.how == "freeze":  # never answers, as a stopped (SIGSTOP) namenode
            return NOT_DONE_YET
        if self.how == "503":
            request.setResponseCode(503)
            return _remote("RetriableException", "in safe mode")
        request.setResponseCode(201 if op == "CREATE" else 200)
        return json.dumps({"FileStatuses": {"FileStatus": []}, "boolean": True}).encode()


def _remote(exception, message):
    return json.dumps({"RemoteException": {"exception": exception, "message": message, "javaClassName": "x"}}).encode()


@pytest.fixture
def namenodes():
    """start(how1, how2): a client given two fake namenodes on real ports, and their log."""
    ports, pools = [], []

    def start(*hows):
        seen = Seen()
        for i, how in enumerate(hows, 1):
            ports.append(reactor.listenTCP(0, Site(FakeNamenode(f"nn{i}", how, seen)),
                                           interface="127.0.0.1"))
        http, pool = make_http(reactor)
        pools.append(pool)
        return Client(http, [f"http://127.0.0.1:{port.getHost().port}" for port in ports[-len(hows):]]), seen

    yield start
    for pool in pools:
        pytest_twisted.blockon(pool.closeCachedConnections())
    for port in ports:
        pytest_twisted.blockon(port.stopListening())


def test_a_list_of_namenodes_is_read_from_options_the_environment_or_the_config_file(monkeypatch, tmp_path):
    assert namenode_urls("nn1, http://nn2:9000/") == ["http://nn1:8180", "http://nn2:9000"]
    config = tmp_path / "config.toml"
    config.write_text('namenode = ["nn1", "nn2"]\n')
    monkeypatch.setenv("DFS_CONFIG", str(config))
    monkeypatch.delenv("DFS_NAMENODE_URL", raising=False)
    assert resolve()["namenodes"] == ["http://nn1:8180", "http://nn2:8180"]
    monkeypatch.setenv("DFS_NAMENODE_URL", "a:1,b:2")
    assert resolve()["namenodes"] == ["http://a:1", "http://b:2"]
    assert resolve()["namenode"] == "http://a:1"
    with pytest.raises(BadRequest):
        namenode_urls(" , ")


@pytest_twisted.ensureDeferred
async def test_a_503_moves_to_the_next_namenode_and_later_requests_stay_there(namenodes):
    client, seen = namenodes("503", "ok")
    assert (await client.ls("/")) == []
    assert (await client.mkdir("/d")) is True
    assert seen == [("nn1", "LISTSTATUS"), ("nn2", "LISTSTATUS"), ("nn2", "MKDIRS")]
    assert client.namenode_url == client.namenode_urls[1]


@pytest_twisted.ensureDeferred
async def test_reads_and_repeatable_changes_go_to_the_next_namenode_when_one_goes_away_mid_request(namenodes):
    client, seen = namenodes("drop", "ok")
    assert (await client.ls("/")) == []
    client.namenode_url = client.namenode_urls[0]
    assert (await client.chmod("/d", 0o700)).code == 200
    assert seen == [("nn1", "LISTSTATUS"), ("nn2", "LISTSTATUS"), ("nn1", "SETPERMISSION"),
                              ("nn2", "SETPERMISSION")]


@pytest_twisted.ensureDeferred
async def test_a_request_made_for_a_namenode_the_client_has_left_fails_over_too(namenodes):
    client, seen = namenodes("drop", "ok")
    url = client._url("/")  # made before another request moved the client to the second namenode
    client.namenode_url = client.namenode_urls[1]
    response = await client._request("GET", url, params={"op": "LISTSTATUS"})
    assert response.code == 200
    assert seen == [("nn1", "LISTSTATUS"), ("nn2", "LISTSTATUS")]


@pytest_twisted.ensureDeferred
async def test_a_change_that_may_have_been_made_is_sent_again_with_the_same_operation_id(namenodes):
    client, seen = namenodes("drop", "ok")
    assert (await client.mv("/a", "/b")) is True
    assert (await client.write("/f", DATA)) is None  # a CREATE without overwrite (no checksum compared); this
    # fake namenode names no fileId
    assert (await client.rm("/b")) is True
    assert seen == [("nn1", "RENAME"), ("nn2", "RENAME"), ("nn2", "CREATE"), ("nn2", "DELETE")]
    first, again, create, delete = seen.ids
    assert first == again == (client.client_id, "0")
    assert create == (client.client_id, "1") and delete == (client.client_id, "2")


@pytest_twisted.ensureDeferred
async def test_reads_carry_no_operation_id_and_a_change_made_in_several_transactions_is_not_sent_again(namenodes):
    client, seen = namenodes("drop", "ok")
    assert (await client.ls("/")) == []
    client.namenode_url = client.namenode_urls[0]
    with pytest.raises(OutcomeUnknown) as raised:
        await client.trash_expunge()
    assert "went away during EXPUNGE /" in raised.value.message
    assert "may or may not have been done" in raised.value.message
    assert seen == [("nn1", "LISTSTATUS"), ("nn2", "LISTSTATUS"), ("nn1", "EXPUNGE")]
    assert seen.ids == [None, None, None]


class Pipe(io.RawIOBase):
    """A stream that can be read once (stdin, a pipe): no seek, no tell."""

    def __init__(self, data):
        self._data = io.BytesIO(data)

    def readable(self):
        return True

    def read(self, n=-1):
        return self._data.read(n)


@pytest_twisted.ensureDeferred
async def test_an_upload_from_a_stream_fails_clearly_when_its_namenode_goes_away(namenodes):
    client, seen = namenodes("drop", "ok")
    with pytest.raises(OutcomeUnknown) as raised:
        await client.upload("/f", Pipe(DATA), overwrite=True)
    assert "cannot be sent again" in raised.value.message
    assert seen == [("nn1", "CREATE")]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest_twisted.ensureDeferred
async def test_a_namenode_that_refuses_connections_is_skipped_for_any_request(namenodes):
    client, seen = namenodes("ok")
    live = client.namenode_url
    client.namenode_urls.insert(0, f"http://127.0.0.1:{_free_port()}")
    client.namenode_url = client.namenode_urls[0]
    assert (await client.mv("/a", "/b")) is True  # never sent to the dead one: safe to send on
    assert client.namenode_url == live
    assert seen == [("nn1", "RENAME")]


class CountedBackoff(Backoff):
    """Short waits, counted."""

    def __init__(self):
        super().__init__(attempts=2, base=0.01, random=lambda: 0.0)
        self.waits = 0

    def delay(self, attempt, response, now):
        wait = super().delay(attempt, response, now)
        self.waits += wait is not None
        return wait


@pytest_twisted.ensureDeferred
async def test_one_namenode_that_went_away_is_waited_for_but_a_never_reached_one_is_not():
    port = reactor.listenTCP(0, Site(FakeNamenode("nn1", "ok", Seen())), interface="127.0.0.1")
    url = f"http://127.0.0.1:{port.getHost().port}"
    http, pool = make_http(reactor)
    client, stranger = Client(http, url, backoff=CountedBackoff()), Client(http, url, backoff=CountedBackoff())
    try:
        await client.mkdir("/d")
        await port.stopListening()
        await pool.closeCachedConnections()
        for each in (client, stranger):
            with pytest.raises(Unavailable, match="cannot reach the namenode at .*refused"):
                await each.mkdir("/e")
    finally:
        await pool.closeCachedConnections()
    assert (client.backoff.waits, stranger.backoff.waits) == (2, 0)


@pytest_twisted.ensureDeferred
async def test_with_one_namenode_an_upload_from_a_stream_whose_namenode_went_away_still_fails_clearly():
    namenode = FakeNamenode("nn1", "ok", Seen())
    port = reactor.listenTCP(0, Site(namenode), interface="127.0.0.1")
    http, pool = make_http(reactor)
    client = Client(http, f"http://127.0.0.1:{port.getHost().port}", backoff=CountedBackoff())
    try:
        await client.mkdir("/d")
        namenode.how = "drop"
        with pytest.raises(OutcomeUnknown, match="cannot be sent again"):
            await client.upload("/d/f", Pipe(DATA), overwrite=True)
    finally:
        await pool.closeCachedConnections()
        await port.stopListening()
    assert client.backoff.waits == 0


@pytest_twisted.ensureDeferred
async def test_one_namenode_that_froze_is_not_waited_for_again_after_the_read_timeout():
    namenode = FakeNamenode("nn1", "ok", Seen())
    port = reactor.listenTCP(0, Site(namenode), interface="127.0.0.1")
    http, pool = make_http(reactor, timeouts=Timeouts(connect=5, read=0.5))
    client = Client(http, f"http://127.0.0.1:{port.getHost().port}", backoff=CountedBackoff())
    try:
        await client.mkdir("/d")
        namenode.how = "freeze"
        with pytest.raises(Unavailable, match="read timeout"):
            await client.mkdir("/e")
    finally:
        await pool.closeCachedConnections()
        await port.stopListening()
    assert client.backoff.waits == 0
