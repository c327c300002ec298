"""The repair work the namenode knows of, by kind and urgency, as HDFS's low-redundancy queues keep it: every block
the namespace refers to that is not healthy sits in exactly one queue, and events (reports, node changes, namespace
changes) move it; nothing walks every block to find the work."""

from itertools import chain, islice

from dfs.namenode.shards import SHARDS, shard_of

# Copy queues, most urgent first: the fewer replicas still count, the sooner a block is copied.
HIGHEST = 0  # one replica left that counts (or none: only draining nodes hold it)
VERY_UNDER = 1  # fewer than a third of its replicas
UNDER = 2  # some replicas short
SINGLE_RACK = 3  # enough replicas, all in one rack while the writable nodes span more
COPY_LEVELS = (HIGHEST, VERY_UNDER, UNDER, SINGLE_RACK)
# Work with no copy to make: replicas to trim, or nothing readable left.
OVER, MISSING, CORRUPT = 4, 5, 6
UNDER_LEVELS = (HIGHEST, VERY_UNDER, UNDER)


def copy_level(counted, wanted):
    """The copy queue of a block with ``counted`` replicas that count toward ``wanted``."""
    if counted <= 1:
        return HIGHEST
    return VERY_UNDER if counted * 3 < wanted else UNDER


class RepairQueues:
    """Blocks by the kind of repair they need; a block is in one queue at most. Each queue (in shards) keeps
    insertion order (dicts used as ordered sets), so a block that cannot be served now goes to the back and does
    not starve the rest; walks start at a different shard each time for the same reason."""

    def __init__(self):
        self._queues = tuple(tuple({} for _ in range(SHARDS)) for _ in range(CORRUPT + 1))
        self._level = tuple({} for _ in range(SHARDS))  # block id -> its queue, by shard
        self._first = 0  # the shard the next walk starts at

    def put(self, block_id, level):
        """Queue ``block_id`` in ``level``, or in none with ``level`` None (the block is healthy or gone)."""
        shard = shard_of(block_id)
        levels = self._level[shard]
        now = levels.get(block_id)
        if now == level:
            return
        if now is not None:
            del self._queues[now][shard][block_id]
        if level is None:
            del levels[block_id]
        else:
            self._queues[level][shard][block_id] = None
            levels[block_id] = level

    def level_of(self, block_id):
        return self._level[shard_of(block_id)].get(block_id)

    def to_back(self, block_id):
        """Move a block that could not be served to the back of its queue."""
        shard = shard_of(block_id)
        queue = self._queues[self._level[shard][block_id]][shard]
        del queue[block_id]
        queue[block_id] = None

    def count(self, *levels):
        return sum(len(shard) for level in levels for shard in self._queues[level])

    def walk(self, *levels):
        """The blocks in ``levels``, in that order, without a copy: the queues must not change during the walk."""
        shards = [(self._first + i) % SHARDS for i in range(SHARDS)]
        return chain.from_iterable(self._queues[level][shard] for level in levels for shard in shards)

    def blocks(self, *levels, limit=None):
        """A copy of the first ``limit`` (or all) blocks in ``levels``, in that order, to walk while the queues
        change; the next walk starts at the next shard."""
        first = list(islice(self.walk(*levels), limit))
        self._first = (self._first + 1) % SHARDS
        return first

    def clear(self):
        for shards in (*self._queues, self._level):
            for shard in shards:
                shard.clear()

    def __len__(self):
        return sum(len(shard) for shard in self._level)
