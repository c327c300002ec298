"""CREATE and APPEND through the namenode's streaming site in memory, with one datanode app behind StubTreq: the
body goes into the fan-out while it arrives, checks come before any byte moves, and pins end with the request."""

import hashlib
import json

import pytest_twisted
from treq.testing import StubTreq
from twisted.internet import defer
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from dfs.datanode.app import DatanodeApp
from dfs.datanode.blockstore import BlockStore
from dfs.limits import Limits
from dfs.namenode.streaming import StreamingSite
from dfs.peers import DatanodeClient, NamenodeClient


class _Counting(DatanodeClient):
    """A DatanodeClient that counts the bodies it sends."""

    sent = 0

    def batch(self, url, data, lengths):
        self.sent += 1
        return super().batch(url, data, lengths)

    def upload(self, url, body):
        self.sent += 1
        return super().upload(url, body)


def _cluster(namenode_app, tmp_path):
    """The namenode app's streaming site, with one datanode app that takes its blocks; the client it reaches it by."""
    datanode = DatanodeApp(BlockStore(str(tmp_path / "dn")), None, Clock(), None, NamenodeClient(None, "http://nn"))
    datanode.in_thread = lambda fn, *args: defer.maybeDeferred(fn, *args)  # the disk work, synchronously
    datanodes = _Counting(StubTreq(datanode.resource()))
    namenode_app.fanout.datanodes = namenode_app.fanout.batcher.datanodes = datanodes
    namenode_app.registry.register("dn1", "http://dn1", "http://dn1", 1 << 30, 0, 1 << 30, [], "boot:1")
    site = StreamingSite(namenode_app.resource(), namenode_app.start_upload, reactor=Clock())
    site.limits = Limits(is_upload=namenode_app.is_upload)
    return site, datanodes


async def _send(site, method, target, body):
    """(status, JSON body or None) of one request sent as raw bytes in two halves, so the body streams."""
    address = IPv4Address("TCP", "10.0.0.1", 40000)
    channel = site.buildProtocol(address)
    transport = StringTransport(peerAddress=address)
    channel.makeConnection(transport)
    head = f"{method} {target} HTTP/1.1\r\nHost: nn\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    channel.dataReceived(head + body[:len(body) // 2])
    channel.dataReceived(body[len(body) // 2:])
    for _ in range(100):  # the handler may still be waiting on the fan-out's Deferreds
        if b"\r\n\r\n" in transport.value():
            break
        await defer.succeed(None)
    head, _, answer = transport.value().partition(b"\r\n\r\n")
    body = answer[answer.find(b"{"):answer.rfind(b"}") + 1]  # the JSON, sent chunked or not
    return int(head.split(b" ")[1]), json.loads(body) if body else None


async def _length(namenode_app, path):
    response = await StubTreq(namenode_app.resource()).get(f"http://nn/webhdfs/v1{path}?op=GETFILESTATUS")
    return (await response.json())["FileStatus"]["length"]


@pytest_twisted.ensureDeferred
async def test_a_streamed_create_and_append_commit_and_release_their_pins(namenode_app, tmp_path):
    site, datanodes = _cluster(namenode_app, tmp_path)
    data = b"first bytes " * 100
    status, _ = await _send(site, "PUT", "/webhdfs/v1/f?op=CREATE&data=true", data)
    assert status == 201
    assert await _length(namenode_app, "/f") == len(data)
    status, _ = await _send(site, "POST", "/webhdfs/v1/f?op=APPEND&data=true", b"more")
    assert status == 200
    assert await _length(namenode_app, "/f") == len(data) + 4
    assert datanodes.sent == 2
    for block in (data, b"more"):
        assert hashlib.sha256(block).hexdigest() not in namenode_app.fanout.pins


@pytest_twisted.ensureDeferred
async def test_a_streamed_create_is_checked_before_any_byte_moves(namenode_app, tmp_path):
    site, datanodes = _cluster(namenode_app, tmp_path)
    assert (await _send(site, "PUT", "/webhdfs/v1/f?op=CREATE&data=true", b"x"))[0] == 201
    status, body = await _send(site, "PUT", "/webhdfs/v1/f?op=CREATE&data=true", b"other bytes")
    assert status == 403 and body["RemoteException"]["exception"] == "FileAlreadyExistsException"
    status, _ = await _send(site, "POST", "/webhdfs/v1/missing?op=APPEND&data=true", b"other bytes")
    assert status == 404
    assert datanodes.sent == 1, "the refused uploads sent nothing to a datanode"
    assert await _length(namenode_app, "/f") == 1
