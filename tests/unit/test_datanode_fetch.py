"""A block copy from a source that cannot be reached is the source's fault: 502 naming it, not a 500."""

import pytest_twisted
from treq.testing import StubTreq
from twisted.internet import defer
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.task import Clock

from dfs.datanode.app import DatanodeApp
from dfs.datanode.blockstore import BlockStore
from dfs.peers import DatanodeClient, NamenodeClient


class Refused:
    """Every peer refuses the connection."""

    def request(self, method, url, **kwargs):
        return defer.fail(ConnectionRefusedError(url))


@pytest_twisted.ensureDeferred
async def test_fetch_from_an_unreachable_source_is_502_naming_it(tmp_path):
    app = DatanodeApp(BlockStore(str(tmp_path / "dn")), DatanodeClient(Refused()), Clock(), None,
                      NamenodeClient(None, "http://nn:8180/"))
    app.in_thread = lambda fn, *args: defer.maybeDeferred(fn, *args)  # the disk work, synchronously
    response = await StubTreq(app.resource()).post("http://dn/blocks/" + "a" * 64 + "/fetch",
                                                   params={"source": "http://127.0.0.1:1"})
    body = await response.json()
    assert response.code == 502, body
    assert body["RemoteException"]["message"].startswith("cannot reach the source http://127.0.0.1:1")


@pytest_twisted.ensureDeferred
async def test_a_batch_fetch_answers_per_block(tmp_path):
    """A block whose source refuses, and a malformed id: the batch answers for each; only a request without blocks
    fails it all."""
    app = DatanodeApp(BlockStore(str(tmp_path / "dn")), DatanodeClient(Refused()), Clock(), None, NamenodeClient(None, "http://nn:8180/"))
    app.in_thread = lambda fn, *args: defer.maybeDeferred(fn, *args)
    http = StubTreq(app.resource())
    response = await http.post("http://dn/blocks/fetch", params={"source": "http://127.0.0.1:1"},
                               json={"blocks": ["a" * 64, "not-a-block"]})
    body = await response.json()
    assert response.code == 200, body
    first, second = body["blocks"]
    assert first["id"] == "a" * 64 and first["error"].startswith("cannot reach the source http://127.0.0.1:1")
    assert second["id"] == "not-a-block" and "64 lowercase hex" in second["error"]
    response = await http.post("http://dn/blocks/fetch", params={"source": "http://127.0.0.1:1"}, json={"blocks": []})
    assert response.code == 400
