"""Tables keyed by block id, split in shards.

A Python dict grows by rehashing all its entries in one call: at 3 x 10^6 entries that call took 0.11 s, at
6 x 10^6 0.28 s, and the namenode's tables of every block (which nodes hold it, the blocks safe mode waits for, the
repair queues) grow on the reactor while reports come in. Split in SHARDS dicts, one growth rehashes one shard: a
few milliseconds at 10^7 blocks. Each shard is a plain dict whose values are strs, ints or None, which Python's
cyclic collector does not walk (it walks a set entry by entry).
"""

from itertools import chain

SHARDS = 64  # at 10^8 replicas (3.3 x 10^7 blocks) a shard of 5 x 10^5 grows in about 20 ms


def shard_of(block_id):
    """The index of ``block_id``'s shard."""
    return hash(block_id) % SHARDS


def new_shards():
    """SHARDS empty dicts, for a table whose hot path picks the shard itself (``hash(block_id) % SHARDS``)."""
    return tuple({} for _ in range(SHARDS))


class ShardedSet:
    """A set of block ids, each shard a dict of ids to None."""

    __slots__ = ("_shards",)

    def __init__(self):
        self._shards = new_shards()

    def add(self, block_id):
        self._shards[hash(block_id) % SHARDS][block_id] = None

    def discard(self, block_id):
        self._shards[hash(block_id) % SHARDS].pop(block_id, None)

    def __contains__(self, block_id):
        return block_id in self._shards[hash(block_id) % SHARDS]

    def __iter__(self):
        return chain.from_iterable(self._shards)

    def __len__(self):
        return sum(map(len, self._shards))

    def __bool__(self):
        return any(self._shards)

    def clear(self):
        for shard in self._shards:
            shard.clear()
