"""One namenode leads background work: a lease in the database whose epoch grows with each new holder, checked by
GC's transactions and by the datanodes' DELETE."""

import io
from types import SimpleNamespace

import pytest
import pytest_twisted
from twisted.internet.task import Clock

from test_gc import GRACE, _file_then_deleted
from test_gc import cluster  # noqa: F401 (a fixture)

from dfs.datanode.blockstore import BlockStore
from dfs.errors import NotLeader
from dfs.namenode.leader import Leadership


@pytest_twisted.ensureDeferred
async def test_the_lease_has_one_holder_and_each_new_holder_a_later_epoch(namespace):
    first = await namespace.claim_leadership("a", 10)
    assert await namespace.claim_leadership("a", 10) == first, "renewed, same epoch"
    if namespace.SHARED:  # PostgreSQL: b waits for a's lease to run out
        assert await namespace.claim_leadership("b", 10) is None
        await namespace.claim_leadership("a", -1)  # a's lease ran out
    assert await namespace.claim_leadership("b", 10) == first + 1  # SQLite: its one namenode always leads
    now = namespace.now()
    for stale in (namespace.collectable(["c" * 64], now, first), namespace.forget_unreferenced_blocks(now, first)):
        with pytest.raises(NotLeader):
            await stale
    assert await namespace.collectable(["c" * 64], now, first + 1) == {"c" * 64: None}


@pytest_twisted.ensureDeferred
async def test_a_namenode_stops_leading_when_its_lease_runs_out_on_its_own_clock(namespace):
    clock = Clock()
    clock.advance(1000)
    leadership = Leadership(namespace, clock, lease=10)
    await leadership.renew()
    assert leadership.epoch is not None
    clock.advance(9.9)
    assert leadership.epoch is not None
    clock.advance(0.2)  # frozen past its lease (SIGSTOP): it does nothing until it renewed again
    assert leadership.epoch is None


@pytest_twisted.ensureDeferred
async def test_gc_deletes_nothing_without_the_lease_or_under_an_old_epoch(cluster):
    await _file_then_deleted(cluster)
    cluster.repair.leadership = SimpleNamespace(epoch=None)  # another namenode leads
    for _ in range(3):
        assert await cluster.gc_after(GRACE) == []
    cluster.repair.leadership = SimpleNamespace(epoch=await cluster.store.claim_leadership("a", -1))
    await cluster.store.claim_leadership("b", 10)  # took over while "a" was frozen; "a" still thinks it leads
    for _ in range(3):
        assert await cluster.gc_after(GRACE) == []
    cluster.repair.leadership = SimpleNamespace(epoch=await cluster.store.claim_leadership("b", 10))
    for _ in range(3):
        await cluster.gc_after(GRACE)
    assert {node for node, _ in cluster.datanodes.deleted} == {"a", "b"}


def test_a_datanode_refuses_a_delete_of_an_older_epoch_than_one_it_saw(tmp_path):
    store = BlockStore(str(tmp_path))
    blocks = [block_id for block_id, _ in store.commit_many_sync(io.BytesIO(b"xyz"), [1, 1, 1])]
    store.delete_sync(blocks[0], epoch=2)
    with pytest.raises(NotLeader):
        store.delete_sync(blocks[1], epoch=1)
    assert store.has(blocks[1])
    store.delete_sync(blocks[2], epoch=3)
    assert not store.has(blocks[2])


def test_a_restarted_datanode_still_refuses_a_delete_of_an_older_epoch(tmp_path):
    store = BlockStore(str(tmp_path))
    blocks = [block_id for block_id, _ in store.commit_many_sync(io.BytesIO(b"xy"), [1, 1])]
    store.delete_sync(blocks[0], epoch=5)
    restarted = BlockStore(str(tmp_path))
    restarted.scan_sync()
    with pytest.raises(NotLeader, match="epoch 5 came before this one of epoch 4"):
        restarted.delete_sync(blocks[1], epoch=4)
    assert restarted.has(blocks[1])


def test_the_epoch_outlives_the_loss_of_a_data_directory(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    store = BlockStore(f"{first},{second}")
    blocks = [block_id for block_id, _ in store.commit_many_sync(io.BytesIO(b"xy"), [1, 1])]
    store.delete_sync(blocks[0], epoch=5)
    assert BlockStore(str(second)).epoch == 5  # the first disk lost: the second kept it too
