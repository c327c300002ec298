"""A client given several namenodes moves to the next one when one cannot be reached or answers 503, sends a
change again only when that is safe, and learns what an interrupted CREATE did."""

import hashlib
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
from dfs.errors import AlreadyExists, BadRequest, OutcomeUnknown
from dfs.http import make_http

DATA = b"the bytes of the upload"


class FakeNamenode(Resource):
    """A namenode that behaves as ``how`` says: "ok", "503", or "drop" (take the request, then cut the connection
    without answering, as a namenode killed mid-request does). ``existing`` is what a file already holds (None:
    no file). Requests are logged in ``seen`` as (name, op)."""

    isLeaf = True

    def __init__(self, name, how, seen, existing=None):
        super().__init__()
        self.name, self.how, self.seen, self.existing = name, how, seen, existing

    def render(self, request):
        op = request.args[b"op"][0].decode()
        request.content.read()
        self.seen.append((self.name, op))
        if self.how == "drop":
            request.transport.abortConnection()
            return NOT_DONE_YET
        if self.how == "503":
            request.setResponseCode(503)
            return _remote("RetriableException", "in safe mode")
        if op == "GETFILECHECKSUM":
            digest = hashlib.sha256(self.existing).hexdigest()
            return json.dumps({"FileChecksum": {"algorithm": "SHA-256", "bytes": digest, "length": 32}}).encode()
        if op == "CREATE" and self.existing is not None:
            request.setResponseCode(403)
            return _remote("FileAlreadyExistsException", "exists")
        request.setResponseCode(201 if op == "CREATE" else 200)
        return json.dumps({"FileStatuses": {"FileStatus": []}, "boolean": True}).encode()


def _remote(exception, message):
    return json.dumps({"RemoteException": {"exception": exception, "message": message, "javaClassName": "x"}}).encode()


@pytest.fixture
def namenodes():
    """start(how1, how2, existing=None): a client given two fake namenodes on real ports, and their log."""
    ports, pools = [], []

    def start(*hows, existing=None):
        seen = []
        for i, how in enumerate(hows, 1):
            ports.append(reactor.listenTCP(0, Site(FakeNamenode(f"nn{i}", how, seen, existing)),
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
async def test_a_change_that_may_have_been_made_is_not_sent_again(namenodes):
    client, seen = namenodes("drop", "ok")
    with pytest.raises(OutcomeUnknown) as raised:
        await client.mv("/a", "/b")
    assert "went away during RENAME /a" in raised.value.message
    assert "may or may not have been done" in raised.value.message
    assert seen == [("nn1", "RENAME")]


@pytest.mark.parametrize("existing, landed", [(DATA, True), (b"someone else's bytes", False)])
@pytest_twisted.ensureDeferred
async def test_an_interrupted_create_learns_from_the_file_whether_it_landed(namenodes, existing, landed):
    client, seen = namenodes("drop", "ok", existing=existing)
    if landed:
        assert (await client.write("/f", DATA)) is None, "the file was found there: its fileId is not known"
    else:
        with pytest.raises(AlreadyExists):
            await client.write("/f", DATA)
    assert seen == [("nn1", "CREATE"), ("nn2", "CREATE"), ("nn2", "GETFILECHECKSUM")]


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
