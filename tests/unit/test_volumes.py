"""A datanode with several data directories: new blocks spread over them, and one that fails is dropped with its
blocks while the others keep serving."""

import io
import os
import shutil

from twisted.internet import defer
from twisted.internet.task import Clock

from dfs.datanode.blockstore import BlockStore
from dfs.datanode.volumes import Volume, VolumeWatch

SIZE = 4096


def two_volume_store(tmp_path):
    store = BlockStore(f"{tmp_path / 'disk1'},{tmp_path / 'disk2'}")
    stored = store.commit_many_sync(io.BytesIO(os.urandom(SIZE)), [SIZE])
    for _ in range(9):
        stored += store.commit_many_sync(io.BytesIO(os.urandom(SIZE)), [SIZE])
    return store, [block_id for block_id, _ in stored]


def on_volume(store, root):
    return {b for b in store.block_ids if store.path(b).startswith(str(root) + os.sep)}


def test_volumes_on_one_filesystem_take_turns_while_others_write_to_it(tmp_path, monkeypatch):
    """Each volume's free space was read on its own, so a byte written elsewhere between two readings broke the tie:
    one volume took six blocks of ten now and then (seen under a loaded test run)."""
    readings = iter(range(10 ** 6))
    real_space = Volume.space
    monkeypatch.setattr(Volume, "space", lambda v: (real_space(v)[0], real_space(v)[1] - 4096 * next(readings)))
    store, _ = two_volume_store(tmp_path)
    assert len(on_volume(store, tmp_path / "disk1")) == len(on_volume(store, tmp_path / "disk2")) == 5


def test_one_root_keeps_its_layout(tmp_path):
    store = BlockStore(str(tmp_path / "dn"))
    ((block_id, _),) = store.commit_many_sync(io.BytesIO(b"x" * SIZE), [SIZE])
    assert store.path(block_id) == str(tmp_path / "dn" / "blocks" / block_id[:2] / block_id)
    assert os.path.isdir(tmp_path / "dn" / "incoming") and os.path.isdir(tmp_path / "dn" / "corrupt")
    assert store.identity() == BlockStore(str(tmp_path / "dn")).identity()


def test_new_blocks_spread_over_volumes_on_one_filesystem_and_its_space_counts_once(tmp_path):
    store, ids = two_volume_store(tmp_path)
    assert len(on_volume(store, tmp_path / "disk1")) == len(on_volume(store, tmp_path / "disk2")) == 5
    single = BlockStore(str(tmp_path / "other")).usage()
    assert store.usage()["capacity"] == single["capacity"]
    assert store.usage()["used"] == 10 * SIZE
    rescanned = BlockStore(f"{tmp_path / 'disk1'},{tmp_path / 'disk2'}")
    assert rescanned.scan_sync() == set(ids) and rescanned.used == 10 * SIZE
    assert rescanned.identity() == store.identity()


def test_a_removed_volume_loses_its_blocks_and_the_other_keeps_serving(tmp_path):
    store, ids = two_volume_store(tmp_path)
    gone, kept = on_volume(store, tmp_path / "disk2"), on_volume(store, tmp_path / "disk1")
    assert store.check_volumes_sync() == []
    shutil.rmtree(tmp_path / "disk2")
    assert set(store.check_volumes_sync()) == gone
    assert set(store.block_ids) == kept and store.used == 5 * SIZE
    assert [root for root, _ in store.failed_volumes()] == [str(tmp_path / "disk2")]
    for block_id in kept:
        assert len(store.read_verified_sync(block_id, 0, SIZE)) == SIZE
    ((new, _),) = store.commit_many_sync(io.BytesIO(os.urandom(SIZE)), [SIZE])
    assert store.path(new).startswith(str(tmp_path / "disk1"))
    assert store.check_volumes_sync() == [], "a failure is reported once"


def test_a_root_that_cannot_be_made_is_out_of_use_from_the_start(tmp_path):
    (tmp_path / "file").write_text("not a directory")
    store = BlockStore(f"{tmp_path / 'disk1'},{tmp_path / 'file'}")
    assert [root for root, _ in store.failed_volumes()] == [str(tmp_path / "file")]
    assert len(store.in_use()) == 1


def watched(tmp_path, tolerated):
    store, _ = two_volume_store(tmp_path)
    clock, events, gone = Clock(), [], []
    store.on_gone_block.append(gone.append)  # what the heartbeats report
    watch = VolumeWatch(store, lambda fn, *args: defer.succeed(fn(*args)), tolerated, events.append, clock, 1.0)
    watch.start()
    return watch, clock, events, gone


def test_a_tolerated_failure_is_reported_at_once(tmp_path):
    watch, clock, events, gone = watched(tmp_path, tolerated=1)
    clock.advance(1)
    assert gone == []
    lost = on_volume(watch.store, tmp_path / "disk2")
    shutil.rmtree(tmp_path / "disk2")
    clock.advance(1)
    assert sorted(gone) == sorted(lost) and lost and events == []
    clock.advance(5)
    assert sorted(gone) == sorted(lost), "told once"
    watch.stop()


def test_a_failure_beyond_the_tolerated_number_stops_the_datanode_naming_the_directories(tmp_path):
    watch, clock, events, _ = watched(tmp_path, tolerated=0)
    shutil.rmtree(tmp_path / "disk1")
    clock.advance(1)
    reason = f"1 data director(ies) failed ({tmp_path / 'disk1'}), 0 tolerated (--failed-volumes-tolerated)"
    assert events == [reason]
    clock.advance(5)
    assert events == [reason] and not watch._loop.running


def test_losing_every_directory_stops_the_datanode_whatever_is_tolerated(tmp_path):
    watch, clock, events, _ = watched(tmp_path, tolerated=2)
    shutil.rmtree(tmp_path / "disk1")
    shutil.rmtree(tmp_path / "disk2")
    clock.advance(1)
    assert events == [f"2 data director(ies) failed ({tmp_path / 'disk1'}, {tmp_path / 'disk2'}), 2 tolerated"
                      " (--failed-volumes-tolerated), none left"]


def test_a_volume_gone_before_its_check_fails_no_housekeeping(tmp_path):
    """The cleaner of partial uploads and the usage sent with a heartbeat run between two checks of the volumes: a
    vanished one must not stop them (a LoopingCall that raises never runs again)."""
    store, _ = two_volume_store(tmp_path)
    shutil.rmtree(tmp_path / "disk2")
    assert store.clean_incoming_sync(0, 0) == 0
    assert store.usage()["used"] == 10 * SIZE  # the blocks are forgotten at the check, not before


def test_the_identity_outlives_the_loss_of_any_disk(tmp_path):
    roots = [tmp_path / "disk1", tmp_path / "disk2"]
    store = BlockStore([str(r) for r in roots])
    ident = store.identity()
    store.remember_cluster(ident, "c1")
    for lost in roots:
        shutil.rmtree(lost)
        survivor = BlockStore([str(r) for r in roots])
        assert survivor.identity() == {"id": ident["id"], "cluster_id": "c1"}
        assert (lost / "node.json").exists(), "a new disk in place of a lost one gets the identity too"
