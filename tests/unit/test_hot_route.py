"""The busiest routes skip Klein's routing (dfs.web.HotRoute): WebHDFS on the namenode, batches of small blocks and
block reads on the datanode; every other request is still Klein's, and a hot request is answered, failed and cancelled as Klein
would."""

import json

import pytest
import pytest_twisted
from klein.resource import KleinResource
from treq.testing import StubTreq
from twisted.internet import defer
from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import capturedLogs
from twisted.python.failure import Failure

from dfs.datanode.app import DatanodeApp
from dfs.datanode.blockstore import BlockStore
from dfs.peers import NamenodeClient
from dfs.web import QuietSite


@pytest.fixture
def klein_renders(monkeypatch):
    """The requests Klein routed, by path."""
    routed = []
    render = KleinResource.render

    def counted(self, request):
        routed.append(request.path)
        return render(self, request)

    monkeypatch.setattr(KleinResource, "render", counted)
    return routed


def connect(site):
    protocol = site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000))
    transport = StringTransport()
    protocol.makeConnection(transport)
    return protocol, transport


def ask(site, raw):
    """Send one raw HTTP request to ``site``: (status code, headers and body as text)."""
    protocol, transport = connect(site)
    protocol.dataReceived(raw)
    answer = transport.value().decode()
    return int(answer.split(" ", 2)[1]), answer


def test_webhdfs_is_served_without_klein_and_everything_else_by_klein(namenode_app, klein_renders):
    site = QuietSite(namenode_app.resource(), metrics=namenode_app.telemetry, reactor=Clock())
    with capturedLogs() as events:
        code, answer = ask(site, b"GET /webhdfs/v1/?op=GETFILESTATUS HTTP/1.1\r\nHost: nn\r\n\r\n")
        assert code == 200 and json.loads(answer.split("\r\n\r\n", 1)[1].split("\r\n")[1])["FileStatus"]["type"] \
            == "DIRECTORY"
        code, answer = ask(site, b"HEAD /webhdfs/v1/?op=GETFILESTATUS HTTP/1.1\r\nHost: nn\r\n\r\n")
        assert code == 200 and answer.endswith("\r\n\r\n")  # headers only
        code, answer = ask(site, b"GET /webhdfs/v1/?op=MADEUP HTTP/1.1\r\nHost: nn\r\n\r\n")
        assert code == 400 and "No enum constant for MADEUP" in answer and "RemoteException" in answer
        assert klein_renders == []
        code, _ = ask(site, b"GET /health HTTP/1.1\r\nHost: nn\r\n\r\n")
        assert code == 200
        code, answer = ask(site, b"GET /webhdfs/v1?op=GETFILESTATUS HTTP/1.1\r\nHost: nn\r\n\r\n")
        assert code == 308 and "/webhdfs/v1/?op=GETFILESTATUS\r\n" in answer  # Klein's redirect
        code, _ = ask(site, b"OPTIONS /webhdfs/v1/?op=GETFILESTATUS HTTP/1.1\r\nHost: nn\r\n\r\n")
        assert code == 405
    assert klein_renders == [b"/health", b"/webhdfs/v1", b"/webhdfs/v1/"]
    logged = [(e["op"], e["code"]) for e in events if e.get("log_namespace") == "dfs.web"]
    assert logged == [("GETFILESTATUS", 200), ("GETFILESTATUS", 200), ("invalid", 400), ("unrouted", 308),
                      ("unrouted", 405)]  # /health is counted, not logged


def test_a_client_gone_cancels_the_hot_handler_and_nothing_is_answered(namenode_app):
    waiting = defer.Deferred()

    async def stuck(request, params, path, call):
        await waiting
        return b"{}"

    namenode_app.ops[(b"GET", "GETFILESTATUS")] = stuck
    site = QuietSite(namenode_app.resource(), metrics=namenode_app.telemetry, reactor=Clock())
    protocol, transport = connect(site)
    with capturedLogs() as events:
        protocol.dataReceived(b"GET /webhdfs/v1/?op=GETFILESTATUS HTTP/1.1\r\nHost: nn\r\n\r\n")
        assert not waiting.called
        protocol.connectionLost(Failure(ConnectionDone()))
    assert waiting.called  # cancelled: the handler stopped waiting
    assert transport.value() == b""
    assert not [e for e in events if "log_failure" in e]


@pytest_twisted.ensureDeferred
async def test_batches_of_blocks_block_reads_and_webhdfs_reads_are_served_without_klein(tmp_path, klein_renders):
    datanode = DatanodeApp(BlockStore(str(tmp_path / "dn")), None, Clock(), None, NamenodeClient(None, "http://nn"))
    datanode.in_thread = lambda fn, *args: defer.maybeDeferred(fn, *args)
    http = StubTreq(datanode.resource())
    response = await http.put("http://dn/blocks/batch?lengths=3,2", data=b"abcde")
    assert response.code == 201
    first, second = (await response.json())["blocks"]
    assert (first["length"], second["length"]) == (3, 2)
    response = await http.put("http://dn/blocks/batch?lengths=x", data=b"abcde")
    assert response.code == 400 and "RemoteException" in await response.json()
    read = f"http://dn/webhdfs/v1/f?op=OPEN&blocks={first['id']}:0:3,{second['id']}:0:2&offset=1"
    response = await http.get(read)
    assert response.code == 200 and await response.content() == b"bcde"
    response = await http.head(read)
    assert response.code == 200 and response.headers.getRawHeaders("content-length") == ["4"]
    response = await http.get("http://dn/webhdfs/v1/f?op=OPEN&blocks=nonsense")
    assert response.code == 400 and "RemoteException" in await response.json()
    response = await http.get(f"http://dn/blocks/{first['id']}", headers={"Range": "bytes=1-"})
    assert response.code == 206 and await response.content() == b"bc"
    response = await http.head(f"http://dn/blocks/{second['id']}")
    assert response.code == 200 and response.headers.getRawHeaders("content-length") == ["2"]
    response = await http.get(f"http://dn/blocks/{'0' * 64}")
    assert response.code == 404 and "RemoteException" in await response.json()
    assert klein_renders == []
    response = await http.put("http://dn/blocks/batches?lengths=3,2", data=b"abcde")
    assert response.code in (404, 405)  # not the batch route: Klein's answer
    response = await http.get(f"http://dn/blocks/{first['id']}/checksums")
    assert response.code == 200  # under a hot pattern's path, not matched by it: Klein's route
    response = await http.get(f"http://dn/blocks/{first['id'].upper()}")
    assert response.code == 404
    assert klein_renders == [b"/blocks/batches", f"/blocks/{first['id']}/checksums".encode(),
                             f"/blocks/{first['id'].upper()}".encode()]
