"""The GC decision on a fake clock: pins, the grace since a block became unreferenced, and a complete view."""

import hashlib
import io
import os
import sqlite3
from types import SimpleNamespace

import pytest
import pytest_twisted
from twisted.internet import defer
from twisted.internet.task import Clock

from test_batching import _Response
from test_metadata import result

from dfs.datanode.blockstore import BlockStore
from dfs.errors import Conflict, NoSpace, Unavailable
from dfs.namenode.namespace.backends import open_namespace
from dfs.namenode.namespace.model import Extent
from dfs.namenode.namespace.sqlite import SQLiteNamespace
from dfs.namenode.pins import Pins
from dfs.namenode.registry import Registry
from dfs.namenode.repair import GC_POLL, Repair
from dfs.namenode.upload import CHUNK, FanOut
from dfs.peers import DatanodeClient

GRACE = 100.0
BLOCK = "b" * 64
NODES = ("a", "b")


class _Answer:
    code = 200

    def content(self):
        return defer.succeed(b'{"deleted": 10, "kept": [], "missing": []}')


class _Datanodes:
    """Records the deletes repair sends, one (node, mark) per block (every datanode agrees to delete)."""

    def __init__(self):
        self.deleted = []
        self.requests = 0

    def request(self, method, url, params, headers, data):
        assert (method, url.split("/", 3)[3]) == ("POST", "blocks/delete")
        self.requests += 1
        self.deleted.extend((url.split("/")[2], params["unless_stored_after"]) for _ in range(0, len(data), 32))
        return defer.succeed(_Answer())


class _PreviousRelease(_Datanodes):
    """Datanodes of the release before batched deletes: POST /blocks/delete is unknown (404), DELETE works."""

    def request(self, method, url, params, headers, data=None):
        self.requests += 1
        if method == "POST":
            return defer.succeed(SimpleNamespace(code=404, content=lambda: defer.succeed(b"No Such Resource")))
        assert method == "DELETE"
        self.deleted.append((url.split("/")[2], params["unless_stored_after"]))
        return defer.succeed(_Answer())


class _Cluster:
    def __init__(self, location):
        self.clock = Clock()
        self.clock.advance(1000)
        self.store = open_namespace(location, clock=self.clock)
        self.store.start()
        self.registry = Registry(self.clock, stale_after=10 * GRACE, dead_after=20 * GRACE)
        self.pins = Pins(self.store, self.clock)
        self.datanodes = _Datanodes()
        fanout = FanOut(None, self.registry, self.clock, self.pins)
        self.repair = Repair(self.store, self.registry, fanout, DatanodeClient(self.datanodes), self.clock, grace=GRACE)
        self.repair.safemode.on = False
        self.beats = 0
        for node in NODES:
            self.registry.register(node, f"http://{node}", f"http://{node}", 100, 0, 100, [BLOCK], self.mark())

    def mark(self):
        self.beats += 1
        return f"boot:{self.beats}"

    def heartbeat(self, *nodes):
        for node in nodes or NODES:
            self.registry.heartbeat(node, 100, 0, 100, self.mark())

    async def gc_after(self, seconds, *nodes):
        """Let ``seconds`` pass, the datanodes (``nodes``, or all) heartbeat, and repair run a pass."""
        self.clock.advance(seconds)
        self.heartbeat(*nodes)
        await self.repair.run_once()
        return self.datanodes.deleted

    async def unreferenced_since(self):
        rows = await self.store.read(lambda db: db.execute("SELECT unreferenced_since FROM blocks").fetchall())
        return rows[0][0]


@pytest.fixture
def cluster(namespace_location):
    """Repair on a namespace of each backend."""
    c = _Cluster(namespace_location)
    yield c
    c.pins.stop()
    c.store.stop()


async def _file_then_deleted(cluster, path="/f"):
    await cluster.store.create(path, [Extent(BLOCK, 0, 10, 10)], False)
    assert await cluster.unreferenced_since() is None
    await cluster.store.delete(path, False)
    assert await cluster.unreferenced_since() == cluster.clock.seconds()


async def _big_file_deleted(cluster, count):
    """``count`` blocks in one file that every datanode holds, then the file deleted: the blocks GC should collect."""
    blocks = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(count)]
    await cluster.store.create("/big", [Extent(b, 0, 10, 10) for b in blocks], False)
    for node in NODES:
        cluster.registry.register(node, f"http://{node}", f"http://{node}", 100, 0, 100, blocks, cluster.mark())
    await cluster.store.delete("/big", False)
    return blocks


@pytest_twisted.ensureDeferred
async def test_a_datanode_of_the_previous_release_gets_one_delete_a_block(cluster):
    """A namenode upgraded before its datanodes: the batch route answers 404, so the same deletes go one by one."""
    cluster.datanodes = _PreviousRelease()
    cluster.repair.datanodes = DatanodeClient(cluster.datanodes)
    await _file_then_deleted(cluster)
    assert await cluster.gc_after(GRACE + 1) == []  # the decision
    assert sorted(node for node, _ in await cluster.gc_after(1)) == ["a", "b"]
    assert cluster.datanodes.requests == 4  # per node: the batch refused, then one DELETE


@pytest_twisted.ensureDeferred
async def test_kept_for_the_grace_since_it_became_unreferenced(cluster):
    await cluster.gc_after(5 * GRACE)  # seen as an orphan long before: that does not start the grace
    await _file_then_deleted(cluster)
    assert await cluster.gc_after(GRACE - 1) == []
    assert await cluster.gc_after(2) == []  # collectable now: decided, but not every node reported since
    deleted = await cluster.gc_after(1)
    assert dict(deleted) == {node: cluster.registry.nodes[node].mark for node in NODES}


@pytest_twisted.ensureDeferred
async def test_a_datanode_not_heard_from_since_the_decision_holds_gc_back(cluster):
    await _file_then_deleted(cluster)
    assert await cluster.gc_after(GRACE + 1) == []  # the decision
    assert await cluster.gc_after(1, "a") == []
    assert await cluster.gc_after(1, "a") == []
    assert {node for node, _ in await cluster.gc_after(1, "b")} == {"a", "b"}


@pytest_twisted.ensureDeferred
async def test_a_pinned_block_is_never_collected(cluster):
    cluster.pins.start()  # renews the pins while time passes
    other_namenode = Pins(cluster.store, cluster.clock)  # seen by this GC only through the database
    other_namenode.start()
    await _file_then_deleted(cluster)
    await other_namenode.pin(BLOCK)
    for _ in range(20):
        assert await cluster.gc_after(GRACE) == []
    other_namenode.release(BLOCK)
    assert await cluster.gc_after(1) == []  # the release was flushed: decided now
    assert {node for node, _ in await cluster.gc_after(1)} == {"a", "b"}
    other_namenode.stop()


@pytest_twisted.ensureDeferred
async def test_a_crashed_namenodes_pins_expire(cluster):
    await _file_then_deleted(cluster)
    await Pins(cluster.store, cluster.clock, lease=3 * GRACE).pin(BLOCK)  # never renewed nor released
    assert await cluster.gc_after(2 * GRACE) == []
    assert await cluster.gc_after(GRACE + 1) == []  # the pin expired: decided now
    assert {node for node, _ in await cluster.gc_after(1)} == {"a", "b"}


@pytest_twisted.ensureDeferred
async def test_re_referenced_during_the_grace_is_kept_and_its_stamp_cleared(cluster):
    await _file_then_deleted(cluster)
    assert await cluster.gc_after(GRACE / 2) == []
    await cluster.store.create("/g", [Extent(BLOCK, 0, 10, 10)], False)
    assert await cluster.unreferenced_since() is None
    for _ in range(3):
        assert await cluster.gc_after(GRACE) == []
    await cluster.store.truncate("/g", 5)  # still referenced by what is left
    assert await cluster.unreferenced_since() is None
    await cluster.store.delete("/g", False)
    assert await cluster.unreferenced_since() == cluster.clock.seconds()
    assert await cluster.gc_after(GRACE - 1) == []
    assert await cluster.gc_after(2) == []
    assert {node for node, _ in await cluster.gc_after(1)} == {"a", "b"}


@pytest_twisted.ensureDeferred
async def test_a_big_tree_is_collected_in_one_pass_in_batches(cluster):
    blocks = await _big_file_deleted(cluster, 5000)
    await cluster.gc_after(GRACE + 1)  # found collectable: waits for every datanode to be heard from since
    deleted = await cluster.gc_after(1)
    assert sorted(node for node, _ in deleted) == ["a"] * 5000 + ["b"] * 5000
    assert cluster.datanodes.requests == 2 * 3  # 5,000 ids in batches of at most 2,048, per node
    assert not any(cluster.registry.replicas.get(b) for b in blocks)


@pytest_twisted.ensureDeferred
async def test_gc_looks_again_when_the_grace_ends_not_at_the_next_full_pass(cluster):
    await _file_then_deleted(cluster)
    cluster.repair.interval = 100 * GRACE
    cluster.repair.start()  # a full pass now, the next one 100 graces later
    try:
        await cluster.repair.run_once()  # that pass, over (its checks run in the reactor's cooperative steps)
        cluster.clock.advance(GRACE)  # the grace ends: GC alone finds the block collectable
        cluster.clock.advance(1)
        assert cluster.datanodes.deleted == []
        cluster.heartbeat()
        cluster.clock.advance(GC_POLL)  # every datanode was heard from since: GC deletes
        assert {node for node, _ in cluster.datanodes.deleted} == {"a", "b"}
    finally:
        cluster.repair.stop()


class _SlowDatanodes(_Datanodes):
    """Records the deletes and answers each only when the test says."""

    def __init__(self):
        super().__init__()
        self.waiting = []

    def request(self, method, url, params, headers, data):
        super().request(method, url, params, headers, data)
        self.waiting.append(defer.Deferred())
        return self.waiting[-1]


@pytest_twisted.ensureDeferred
async def test_batches_queued_under_a_lease_that_ran_out_are_not_sent_and_their_replicas_stay(cluster):
    blocks = await _big_file_deleted(cluster, 3000)
    cluster.repair.leadership = lease = SimpleNamespace(epoch=await cluster.store.claim_leadership("a", 10))
    datanodes = _SlowDatanodes()
    cluster.repair.datanodes = DatanodeClient(datanodes)
    await cluster.gc_after(GRACE + 1)
    await cluster.gc_after(1)
    assert datanodes.requests == 2  # one batch of 2,048 per node in flight; 952 each wait
    lease.epoch = None  # the lease ran out (a frozen namenode) before the answers came
    for answer in datanodes.waiting:
        answer.callback(_Answer())
    assert datanodes.requests == 2
    still_held = [b for b in blocks if set(cluster.registry.replicas.get(b, ())) == set(NODES)]
    assert len(still_held) == 3000 - 2048


def test_a_datanode_refuses_to_delete_a_block_stored_after_the_mark(tmp_path):
    store = BlockStore(str(tmp_path))
    store.scan_sync()
    sink = store.new_sink()
    sink.write(b"some bytes")
    block_id, _ = store.commit_sync(sink)
    before = store.mark()
    assert store.confirm(block_id)  # an upload of the same bytes found it here
    with pytest.raises(Conflict):
        store.delete_sync(block_id, unless_stored_after=before)
    with pytest.raises(Conflict):
        store.delete_sync(block_id, unless_stored_after="another-boot:99")
    assert os.path.exists(store.path(block_id))
    store.delete_sync(block_id, unless_stored_after=store.mark())
    assert not os.path.exists(store.path(block_id))


# -- pins in the fan-out: taken before a datanode can store the block, released when the upload gives up ----------

class _HeldPins:
    """A store whose pin commits wait until the test lets them through."""

    def __init__(self):
        self.waiting = []
        self.rows = set()

    def pin(self, block_id, owner, expires):
        committed = defer.Deferred()
        committed.addCallback(lambda _: self.rows.add(block_id))
        self.waiting.append(committed)
        return committed

    def unpin(self, block_ids, owner):
        self.rows.difference_update(block_ids)
        return defer.succeed(None)


class _StreamingDatanode:
    """Takes block uploads, keeps what reached it, and answers each as the test says."""

    def __init__(self):
        self.received = bytearray()
        self.answers = []

    def request(self, method, url, data, headers):
        data.startProducing(SimpleNamespace(write=self.received.extend))
        answer = defer.Deferred()
        self.answers.append(answer)
        return answer

    def store(self, i, code=201):
        body = bytes(self.received)
        self.answers[i].callback(_Response(code, {"id": hashlib.sha256(body).hexdigest(), "length": len(body)}))
        self.received.clear()


def _fan_out():
    clock = Clock()
    registry = Registry(clock)
    registry.register("a", "http://a", "http://a", 1 << 40, 0, 1 << 40, [], "boot:1")
    store, datanode = _HeldPins(), _StreamingDatanode()
    pins = Pins(store, clock)
    return FanOut(DatanodeClient(datanode), registry, clock, pins), store, datanode


def _reader(data):
    source = io.BytesIO(data)
    return source.read


@pytest_twisted.ensureDeferred
async def test_the_last_chunk_of_a_block_waits_for_its_pin():
    fanout, store, datanode = _fan_out()
    data = os.urandom(3 * CHUNK)
    upload = defer.ensureDeferred(fanout.write_stream(_reader(data), len(data), 4 * CHUNK, 1, 1))
    assert len(datanode.received) == 2 * CHUNK and len(store.waiting) == 1, "the last chunk waits for the pin"
    store.waiting[0].callback(None)
    assert bytes(datanode.received) == data
    datanode.store(0)
    [extent] = upload.result
    assert extent.block_id == hashlib.sha256(data).hexdigest() and extent.block_id in fanout.pins
    fanout.release([extent])
    assert extent.block_id not in fanout.pins and store.rows == {extent.block_id}
    fanout.pins.flush()
    assert store.rows == set()


@pytest_twisted.ensureDeferred
async def test_a_failed_upload_releases_the_blocks_it_had_written():
    fanout, store, datanode = _fan_out()
    data = os.urandom(4 * CHUNK)
    upload = defer.ensureDeferred(fanout.write_stream(_reader(data), len(data), 2 * CHUNK, 1, 1))
    store.waiting[0].callback(None)
    datanode.store(0)
    store.waiting[1].callback(None)
    assert len(store.rows) == 2
    datanode.store(1, code=500)
    with pytest.raises(Unavailable):
        await upload
    assert hashlib.sha256(data[:2 * CHUNK]).hexdigest() not in fanout.pins
    fanout.pins.flush()
    assert store.rows == set()


@pytest_twisted.ensureDeferred
async def test_a_block_every_datanode_refuses_for_want_of_space_fails_as_out_of_space():
    # 507, not 503: clients retry a 503, and retrying cannot help until space is freed.
    fanout, store, datanode = _fan_out()
    data = os.urandom(2 * CHUNK)
    upload = defer.ensureDeferred(fanout.write_stream(_reader(data), len(data), 4 * CHUNK, 1, 1))
    store.waiting[0].callback(None)
    datanode.store(0, code=507)
    with pytest.raises(NoSpace):
        await upload
    assert hashlib.sha256(data).hexdigest() not in fanout.pins


def test_a_database_from_before_pins_gets_the_stamp(tmp_path):
    path = str(tmp_path / "old.sqlite")
    old = sqlite3.connect(path)
    old.executescript(  # the tables GC reads, as releases before pins made them
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "CREATE TABLE inodes (id INTEGER PRIMARY KEY, parent INTEGER NOT NULL, name TEXT NOT NULL,"
        " type TEXT NOT NULL, size INTEGER NOT NULL DEFAULT 0, mode INTEGER NOT NULL, owner TEXT NOT NULL,"
        " grp TEXT NOT NULL, mtime INTEGER NOT NULL, atime INTEGER NOT NULL, replication INTEGER NOT NULL DEFAULT 0,"
        " block_size INTEGER NOT NULL DEFAULT 0, UNIQUE (parent, name));"
        "CREATE TABLE blocks (id TEXT PRIMARY KEY, size INTEGER NOT NULL);"
        "CREATE TABLE extents (inode INTEGER NOT NULL, seq INTEGER NOT NULL, block_id TEXT NOT NULL,"
        " block_offset INTEGER NOT NULL, length INTEGER NOT NULL, PRIMARY KEY (inode, seq));"
        "CREATE TABLE pins (block_id TEXT NOT NULL, owner TEXT NOT NULL, expires REAL NOT NULL,"
        " PRIMARY KEY (block_id, owner));"
        "CREATE TABLE datanodes (id TEXT PRIMARY KEY, url TEXT NOT NULL);"
        "INSERT INTO inodes VALUES (1, 0, '', 'DIRECTORY', 0, 493, 'dfs', 'supergroup', 0, 0, 0, 0);"
        "INSERT INTO inodes VALUES (7, 1, 'f', 'FILE', 10, 420, 'dfs', 'supergroup', 0, 0, 1, 10);")
    old.executemany("INSERT INTO blocks (id, size) VALUES (?, 10)", [("a" * 64,), (BLOCK,)])
    old.execute("INSERT INTO extents VALUES (7, 0, ?, 0, 10)", ("a" * 64,))
    old.commit()
    old.close()
    clock = Clock()
    clock.advance(500)
    store = SQLiteNamespace(path, clock=clock)
    store.open()

    def stamps():
        return result(store.read(lambda db: dict(db.execute("SELECT id, unreferenced_since FROM blocks"))))

    assert stamps() == {"a" * 64: None, BLOCK: 500}, "the unreferenced block's grace starts at the upgrade"
    clock.advance(1)
    result(store.run(lambda db: db.execute("DELETE FROM extents")))
    assert stamps() == {"a" * 64: 501, BLOCK: 500}
    store.stop()
