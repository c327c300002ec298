"""The typed peer clients (and the user client's cluster calls) against the Klein apps in memory: each route they
name exists and answers."""

import hashlib
import io

import pytest_twisted
from treq.testing import StubTreq
from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.logger import LogLevel, capturedLogs, formatEvent

from dfs import chunks
from dfs.client import Client
from dfs.datanode.app import DatanodeApp
from dfs.datanode.blockstore import BlockStore
from dfs.datanode.heartbeat import NamenodeLink
from dfs.peers import DatanodeClient, NamenodeClient

URL = "http://dn:8181"


def _datanode(tmp_path):
    app = DatanodeApp(BlockStore(str(tmp_path / "dn")), None, Clock(), None, NamenodeClient(None, "http://nn"))
    app.in_thread = lambda fn, *args: defer.maybeDeferred(fn, *args)  # the disk work, synchronously
    return app


@pytest_twisted.ensureDeferred
async def test_a_block_stored_in_a_batch_is_read_checked_and_deleted_through_the_client(tmp_path):
    app = _datanode(tmp_path)
    datanodes = DatanodeClient(StubTreq(app.resource()))
    data = bytes(range(256)) * 300
    response = await datanodes.batch(URL, data + b"tail", [len(data), 4])
    assert response.code == 201
    block_id = hashlib.sha256(data).hexdigest()
    assert [b["id"] for b in (await response.json())["blocks"]] == [block_id, hashlib.sha256(b"tail").hexdigest()]

    whole = await datanodes.read(URL, block_id)
    assert whole.code == 200 and await whole.content() == data
    part = await datanodes.read(URL, block_id, 1000, 5000)
    assert part.code == 206 and await part.content() == data[1000:6000]
    sums = await datanodes.checksums(URL, block_id)
    assert sums.code == 200 and chunks.first_bad(data, 0, chunks.decode(await sums.content())) is None

    kept = await datanodes.delete(URL, block_id, app.store.mark())
    assert kept.code == 200 and not app.store.has(block_id)
    formatted = await datanodes.format(URL)
    assert formatted.code == 200 and not app.store.block_ids


@pytest_twisted.ensureDeferred
async def test_blocks_deleted_in_one_batch_under_a_mark_and_an_epoch(tmp_path):
    app = _datanode(tmp_path)
    datanodes = DatanodeClient(StubTreq(app.resource()))
    stored = await (await datanodes.batch(URL, b"onetwothree", [3, 3, 5])).json()
    one, two, three = (b["id"] for b in stored["blocks"])
    mark = app.store.mark()
    assert app.store.confirm(two)  # an upload found it here after the mark: it stays
    absent = "0" * 64

    response = await datanodes.delete_many(URL, [one, two, absent], mark, epoch=2)
    assert response.code == 200
    assert await response.json() == {"deleted": 3, "kept": [two], "missing": [absent]}
    assert not app.store.has(one) and app.store.has(two) and app.store.has(three)

    stale = await datanodes.delete_many(URL, [three], app.store.mark(), epoch=1)  # a former leader's
    assert stale.code == 409 and app.store.has(three)


@pytest_twisted.ensureDeferred
async def test_a_batch_delete_whose_body_is_not_the_signed_list_deletes_nothing(tmp_path):
    app = _datanode(tmp_path)
    stored = await (await DatanodeClient(StubTreq(app.resource())).batch(URL, b"block", [5])).json()
    block_id = stored["blocks"][0]["id"]
    http = StubTreq(app.resource())
    params = {"unless_stored_after": app.store.mark(), "ids": hashlib.sha256(b"\0" * 32).hexdigest()}
    response = await http.post(f"{URL}/blocks/delete", params=params, data=bytes.fromhex(block_id))
    assert response.code == 400 and app.store.has(block_id)


class _Recorder:
    """Records each request a client sends and answers none of them."""

    def __init__(self):
        self.sent = []

    def request(self, method, url, **kwargs):
        self.sent.append((method, url, kwargs.get("params"), kwargs.get("json")))
        return defer.Deferred()


def test_the_datanode_routes_a_copy_and_an_upload_name():
    http = _Recorder()
    datanodes = DatanodeClient(http)
    datanodes.fetch(URL + "/", "ab" * 32, "http://src:8181")
    datanodes.upload(URL, b"x")
    assert http.sent == [("POST", f"{URL}/blocks/{'ab' * 32}/fetch", {"source": "http://src:8181"}, None),
                         ("PUT", f"{URL}/blocks/upload", None, None)]


def test_the_namenode_routes_a_datanode_uses():
    http = _Recorder()
    namenode = NamenodeClient(http, "http://nn:8180/")
    namenode.register({"id": "n1"})
    namenode.heartbeat("n1", {"mark": "m"})
    namenode.block_report("n1", ["b"])
    namenode.report_corrupt("n1", ["c"])
    namenode.block_locations("/a b/c")
    assert http.sent == [
        ("POST", "http://nn:8180/cluster/datanodes", None, {"id": "n1"}),
        ("PUT", "http://nn:8180/cluster/datanodes/n1/heartbeat", None, {"mark": "m"}),
        ("PUT", "http://nn:8180/cluster/datanodes/n1/blocks", None, {"blocks": ["b"]}),
        ("POST", "http://nn:8180/cluster/datanodes/n1/corrupt", None, {"blocks": ["c"]}),
        ("GET", "http://nn:8180/webhdfs/v1/a%20b/c", {"op": "GETFILEBLOCKLOCATIONS"}, None),
    ]


@pytest_twisted.ensureDeferred
async def test_a_datanode_link_registers_beats_reports_and_is_told_to_register_again(namenode_app, tmp_path):
    store = BlockStore(str(tmp_path / "dn"))
    identity = store.identity()
    namenode = NamenodeClient(StubTreq(namenode_app.resource()), "http://nn/")
    clock = namenode_app.registry.clock
    link = NamenodeLink(namenode, store, identity, clock, lambda fn, *args: defer.maybeDeferred(fn, *args),
                        report_interval=10, stagger=lambda: 0.5)
    link.url = link.public_url = URL
    await link.beat()  # registers, then a full report
    node = namenode_app.registry.nodes[identity["id"]]
    assert link.registered and node.url == URL and node.last_report == 0
    clock.advance(3)
    await link.beat()  # a heartbeat
    assert (node.last_seen, node.last_report) == (3, 0)
    clock.advance(3)
    await link.beat()  # a full report half the interval after the first (the stagger), and a heartbeat
    assert (node.last_seen, node.last_report) == (6, 6)
    await link.report_corrupt(["c" * 64])
    assert link.registered
    namenode_app.registry.nodes.clear()  # a restarted namenode: it answers the next heartbeat with 404
    await link.beat()
    assert link.registered and identity["id"] in namenode_app.registry.nodes, "registered again at once"


@pytest_twisted.ensureDeferred
async def test_a_heartbeat_tells_the_blocks_stored_since_the_last_one(namenode_app, tmp_path):
    # With several namenodes, one that did not take part in an upload learns its replicas this way within a beat.
    store = BlockStore(str(tmp_path / "dn"))
    identity = store.identity()
    namenode = NamenodeClient(StubTreq(namenode_app.resource()), "http://nn/")
    link = NamenodeLink(namenode, store, identity, Clock(), lambda fn, *args: defer.maybeDeferred(fn, *args))
    link.url = link.public_url = URL
    await link.beat()
    stored = [block_id for block_id, _ in store.commit_many_sync(io.BytesIO(b"ab"), [1, 1])]
    assert not namenode_app.registry.replicas
    await link.beat()
    assert {block_id: holders for block_id, holders in namenode_app.registry.replicas.items()} == \
        {block_id: (identity["id"],) for block_id in stored}


@pytest_twisted.ensureDeferred
async def test_the_clients_cluster_calls_reach_their_endpoints(namenode_app):
    client = Client(StubTreq(namenode_app.resource()), "http://nn/")
    await client.safemode("enter")
    assert (await client.safemode())["on"]
    await client.safemode("leave")
    namenode_app.registry.register("n 1", URL, URL, 10, 0, 10, [], "boot:1")
    assert (await client.decommission("n 1"))["id"] == "n 1"
    assert [node["id"] for node in (await client.status())["nodes"]] == ["n 1"]
    await client.mkdir("/a b")
    assert (await client.fsck("/a b"))["path"] == "/a b"


@pytest_twisted.ensureDeferred
async def test_a_refused_registration_is_logged_with_its_route(namenode_app, tmp_path):
    store = BlockStore(str(tmp_path / "dn"))
    identity = dict(store.identity(), cluster_id="another cluster")
    namenode = NamenodeClient(StubTreq(namenode_app.resource()), "http://nn/")
    link = NamenodeLink(namenode, store, identity, Clock(), lambda fn, *args: defer.maybeDeferred(fn, *args))
    link.url = link.public_url = URL
    with capturedLogs() as events:
        await link.beat()
    assert not link.registered
    assert [formatEvent(e) for e in events if e["log_level"] == LogLevel.error][0].startswith(
        "namenode refused /cluster/datanodes: 403 ")
