"""The namenode's replica map stays small and out of Python's cyclic collector: one str object per block id however
many reports name it (docs/architecture.md, "Memory budget")."""

from twisted.internet.task import Clock

from dfs import blockreports
from dfs.namenode.registry import Registry


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
    assert blocks[0] not in registry.replicas and len(registry._ids) == len(registry.replicas) == 9
