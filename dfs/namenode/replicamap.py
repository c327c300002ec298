"""Which datanodes hold each block: the namenode's largest structure, kept where Python's cyclic collector never
walks it.

A full collection walks every container the collector tracks, entry by entry. A dict whose values are tuples stays
tracked while new tuples come in (every report and copy makes one), so at 3.3 x 10^6 blocks each full collection
held the reactor for 0.1-1 s. Here a block's holders are a str of one-character node codes: a dict of strs to strs
is never tracked, whatever its size, and the codes of the first 256 nodes are characters Python shares.
"""

from collections.abc import Mapping


class ReplicaMap(Mapping):
    """{block id: (node id, ...)} as a read-only mapping; ``add`` and ``discard`` change it."""

    def __init__(self):
        self._holders = {}  # block id -> the codes of the nodes holding it, a str
        self._code_of = {}  # node id -> its one-character code, given at first sight and never reused
        self._node_of = {}  # code -> node id

    def _code(self, node_id):
        code = self._code_of.get(node_id)
        if code is None:
            code = self._code_of[node_id] = chr(len(self._code_of))
            self._node_of[code] = node_id
        return code

    def add(self, block_id, node_id):
        """Record that ``node_id`` holds ``block_id`` (once, however often it is told)."""
        codes = self._holders.get(block_id, "")
        code = self._code(node_id)
        if code not in codes:
            self._holders[block_id] = codes + code

    def discard(self, block_id, node_id):
        """Forget that ``node_id`` holds ``block_id``: whether it was listed. A block no node holds is forgotten."""
        codes = self._holders.get(block_id, "")
        code = self._code_of.get(node_id)
        if code is None or code not in codes:
            return False
        left = codes.replace(code, "")
        if left:
            self._holders[block_id] = left
        else:
            del self._holders[block_id]
        return True

    def clear(self):
        self._holders.clear()

    def get(self, block_id, default=None):
        codes = self._holders.get(block_id)
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
        return block_id in self._holders

    def __iter__(self):
        return iter(self._holders)

    def __len__(self):
        return len(self._holders)
