"""Which datanodes hold each block: the namenode's largest structure, kept where Python's cyclic collector never
walks it, and the one id object of each block that every other table shares.

A full collection walks every container the collector tracks, entry by entry. A dict whose values are tuples stays
tracked while new tuples come in (every report and copy makes one), so at 3.3 x 10^6 blocks each full collection
held the reactor for 0.1-1 s. Here a block's holders are a str of one-character node codes: a dict of strs to strs
is never tracked, whatever its size, and the codes of the first 256 nodes are characters Python shares. Both dicts
are split in shards (dfs/namenode/shards.py), so that their growth never rehashes every block at once.
"""

from collections.abc import Mapping
from itertools import chain

from dfs.namenode.shards import SHARDS, new_shards


class ReplicaMap(Mapping):
    """{block id: (node id, ...)} as a read-only mapping; ``add`` and ``discard`` change it."""

    def __init__(self):
        self._holders = new_shards()  # block id -> the codes of the nodes holding it, a str
        # block id -> the same id, the object the map keeps: each report parses its own copy of every id, and the
        # registry keeps this one instead: 113 bytes saved a replica after the first, for a dict entry a block
        self._ids = new_shards()
        self._code_of = {}  # node id -> its one-character code, given at first sight and never reused
        self._node_of = {}  # code -> node id

    def _code(self, node_id):
        code = self._code_of.get(node_id)
        if code is None:
            code = self._code_of[node_id] = chr(len(self._code_of))
            self._node_of[code] = node_id
        return code

    def add(self, block_id, node_id):
        """Record that ``node_id`` holds ``block_id`` (once, however often it is told); the map's own object of
        that id, for the caller to keep instead of its copy."""
        shard = hash(block_id) % SHARDS
        block_id = self._ids[shard].setdefault(block_id, block_id)
        holders = self._holders[shard]
        codes = holders.get(block_id, "")
        code = self._code(node_id)
        if code not in codes:
            holders[block_id] = codes + code
        return block_id

    def own(self, block_id):
        """The map's object of ``block_id``, or ``block_id`` itself when no node holds that block."""
        return self._ids[hash(block_id) % SHARDS].get(block_id, block_id)

    def discard(self, block_id, node_id):
        """Forget that ``node_id`` holds ``block_id``: whether it was listed. A block no node holds is forgotten."""
        shard = hash(block_id) % SHARDS
        holders = self._holders[shard]
        codes = holders.get(block_id, "")
        code = self._code_of.get(node_id)
        if code is None or code not in codes:
            return False
        left = codes.replace(code, "")
        if left:
            holders[block_id] = left
        else:
            del holders[block_id]
            del self._ids[shard][block_id]
        return True

    def clear(self):
        for shard in (*self._holders, *self._ids):
            shard.clear()

    def get(self, block_id, default=None):
        codes = self._holders[hash(block_id) % SHARDS].get(block_id)
        if codes is None:
            return default
        node_of = self._node_of
        return tuple([node_of[code] for code in codes])

    def __getitem__(self, block_id):
        holders = self.get(block_id)
        if holders is None:
            raise KeyError(block_id)
        return holders

    def __contains__(self, block_id):
        return block_id in self._holders[hash(block_id) % SHARDS]

    def __iter__(self):
        return chain.from_iterable(self._holders)

    def __len__(self):
        return sum(map(len, self._holders))
