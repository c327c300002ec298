"""What a small-file CREATE costs the SQLite namespace: two commits (the pin's, then the file's), only the file's
waiting for the disk; and a group commit waits for the disk when any change in it must."""

import pytest_twisted
from treq.testing import StubTreq
from twisted.internet import defer, reactor
from twisted.internet.task import Clock

from dfs.datanode.app import DatanodeApp
from dfs.datanode.blockstore import BlockStore
from dfs.namenode.namespace.sqlite import SQLiteNamespace
from dfs.peers import DatanodeClient, NamenodeClient


def _commits(db):
    """The ``synchronous`` setting of every commit that changes something on the connection ``db`` from now on (a
    list that grows); without a reactor, lookups and reads commit too, changing nothing."""
    levels, state = [], {"level": db.execute("PRAGMA synchronous").fetchone()[0], "wrote": False}

    def traced(statement):
        words = statement.split()
        if words[0].upper() == "PRAGMA" and words[1].lower().startswith("synchronous="):
            state["level"] = {"NORMAL": 1, "FULL": 2}[words[1].split("=")[1].upper()]
        elif words[0] in ("INSERT", "UPDATE", "DELETE") and words[:3] != ["INSERT", "INTO", "commits"]:
            state["wrote"] = True
        elif statement == "COMMIT":
            if state["wrote"]:
                levels.append({1: "NORMAL", 2: "FULL"}[state["level"]])
            state["wrote"] = False

    db.set_trace_callback(traced)
    return levels


@pytest_twisted.ensureDeferred
async def test_a_small_create_commits_twice_and_waits_for_the_disk_once(namenode_app, tmp_path):
    datanode = DatanodeApp(BlockStore(str(tmp_path / "dn")), None, Clock(), None, NamenodeClient(None, "http://nn"))
    datanode.in_thread = lambda fn, *args: defer.maybeDeferred(fn, *args)
    namenode_app.fanout.datanodes = namenode_app.fanout.batcher.datanodes = DatanodeClient(
        StubTreq(datanode.resource()))
    namenode_app.registry.register("dn1", "http://dn1", "http://dn1", 1 << 30, 0, 1 << 30, [], "boot:1")
    store = namenode_app.store
    await store.mkdirs("/d")
    commits = _commits(store._db)
    response = await StubTreq(namenode_app.resource()).put("http://nn/webhdfs/v1/d/f?op=CREATE&data=true",
                                                           data=b"x" * 1024)
    assert response.code == 201
    assert commits == ["NORMAL", "FULL"]  # the pin's, visible but not synced; the file's, on disk when answered
    assert store._db.execute("SELECT COUNT(*) FROM pins").fetchone()[0] == 1  # released, deleted at the next flush


@pytest_twisted.ensureDeferred
async def test_a_group_commit_waits_for_the_disk_when_one_of_its_changes_must(tmp_path):
    store = SQLiteNamespace(str(tmp_path / "ns.sqlite"), reactor=reactor)
    store.start()
    try:
        commits = _commits(store._db)
        alone = store.pin("a" * 64, "me", 100.0)  # nothing in flight: it leaves at once, a batch of its own
        pin, change = store.pin("b" * 64, "me", 100.0), store.mkdirs("/d")  # queued behind it: the next batch
        await defer.gatherResults([alone, pin, change])
        assert commits == ["NORMAL", "FULL"]
        assert store._db.execute("SELECT COUNT(*) FROM pins").fetchone()[0] == 2
    finally:
        store.stop()
