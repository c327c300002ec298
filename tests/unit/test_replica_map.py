"""The namenode's replica map stays small and out of Python's cyclic collector: one str object per block id however
many reports name it, and no object per block or per replica that a full collection walks (docs/architecture.md,
"Memory budget")."""

import gc
import time

from twisted.internet.task import Clock

from dfs import blockreports
from dfs.namenode.registry import Registry
from dfs.namenode.shards import SHARDS, ShardedSet


def _ids(count):
    return [f"{i:064x}" for i in range(count)]


def _parsed(block_ids):
    """The ids as a report brings them: new str objects, parsed from the wire."""
    return blockreports.decode(blockreports.pieces(block_ids)[0])


def test_every_node_holds_the_maps_own_id_object_whoever_reported_it_first():
    registry = Registry(Clock())
    blocks = _ids(10)
    registry.register("a", "http://a", "http://a", 1, 0, 1, _parsed(blocks))
    registry.register("b", "http://b", "http://b", 1, 0, 1, None)
    registry.report_piece("b", "r", 0, 1, _parsed(blocks[:5]))
    copied = _parsed(blocks[5:6])[0]
    registry.add_replica(copied, "b")
    keys = {id(block_id) for block_id in registry.replicas}
    assert {id(block_id) for block_id in registry.nodes["b"].blocks} <= keys
    assert {id(block_id) for block_id in registry.nodes["a"].blocks} == keys
    registry.remove_replica(blocks[0], "a")
    registry.remove_replica(blocks[0], "b")
    assert blocks[0] not in registry.replicas and sum(map(len, registry.replicas._ids)) == len(registry.replicas) == 9


def _reported(registry, node_ids, blocks):
    """Register each of ``node_ids`` and apply its full report of ``blocks`` in pieces, as the report route does."""
    for node_id in node_ids:
        registry.register(node_id, f"http://{node_id}", f"http://{node_id}", 1, 0, 1, None)
        pieces = blockreports.pieces(blocks(node_id))
        for number, piece in enumerate(pieces):
            registry.report_piece(node_id, "r", number, len(pieces), blockreports.decode(piece))


def test_the_collector_never_tracks_the_map_or_anything_in_it_whatever_changes_it():
    """Holders in tuples left the map's dict tracked as long as new tuples came in: each full collection walked it,
    0.1-1 s at 10^7 replicas (bench/RESULTS.md, "Full collections at 10^7"). Holders are strs of node codes now."""
    registry = Registry(Clock())
    _reported(registry, "abc", lambda node_id: _ids(10_000))
    blocks = _ids(3)
    registry.add_replica(blocks[0], "a")
    registry.remove_replica(blocks[1], "b")
    registry.report_corrupt("c", blocks[2])
    assert set(registry.replicas[blocks[1]]) == {"a", "c"} and set(registry.replicas[blocks[2]]) == {"a", "b"}
    assert not any(gc.is_tracked(shard) for shard in (*registry.replicas._holders, *registry.replicas._ids))
    assert not any(gc.is_tracked(node.blocks) for node in registry.nodes.values())


def largest_dict(table):
    """The entries of the largest dict ``table`` keeps: the most one growth of it rehashes at once."""
    return max(map(len, table if isinstance(table, tuple) else [table]))


def test_no_table_of_every_block_grows_as_one_dict():
    """A dict grows by rehashing every entry in one call: 0.11 s at 3 x 10^6, 0.28 s at 6 x 10^6, on the reactor
    while the reports of a 10^7-replica cluster came in (bench/RESULTS.md, "Growth in shards"). Each table of every
    block is in shards, none of them more than a few times its share."""
    registry = Registry(Clock())
    blocks = 20_000
    _reported(registry, "abc", lambda node_id: _ids(blocks))
    assert len(registry.replicas) == blocks
    for table in (registry.replicas._holders, registry.replicas._ids):
        assert largest_dict(table) < 3 * blocks / SHARDS


def test_gcs_candidates_give_the_collector_nothing_to_walk():
    """Repair's set of blocks no file refers to may hold millions after a big delete."""
    candidates = ShardedSet()
    for block_id in _ids(1000):
        candidates.add(block_id)
    candidates.discard(_ids(1)[0])
    assert len(candidates) == 999 and not any(gc.is_tracked(shard) for shard in candidates._shards)


def _full_collection():
    """The process CPU seconds a full collection takes."""
    started = time.process_time()
    gc.collect()
    return time.process_time() - started


def test_a_full_collection_over_a_million_replicas_takes_less_than_50_ms_more():
    """A full collection of Python's cyclic GC walks every object it tracks, and every entry of those that are
    containers: with a set of holders per block and a set of blocks per node, 10^6 replicas made it 150 ms of CPU
    longer (0.4 s at 3 x 10^6); with tuples of holders, the walk of the replica map's dict took 18 ms. Held in dicts
    of strs, which the collector never tracks, they cost it nothing."""
    gc.collect()  # what earlier tests left
    before = _full_collection()  # the test process's own objects: about 20 ms in pytest
    registry = Registry(Clock())
    blocks = _ids(333_334)
    _reported(registry, "abcd",  # block i on the three nodes other than i % 4
              lambda node_id: (b for i, b in enumerate(blocks) if i % 4 != "abcd".index(node_id)))
    del blocks
    assert sum(len(node.blocks) for node in registry.nodes.values()) == 1_000_002
    more = _full_collection() - before
    assert more < 0.05, f"a full collection took {more * 1000:.0f} ms of CPU more with the replicas"
