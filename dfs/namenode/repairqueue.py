"""The repair work the namenode knows of, by kind and urgency, as HDFS's low-redundancy queues keep it: every block
the namespace refers to that is not healthy sits in exactly one queue, and events (reports, node changes, namespace
changes) move it; nothing walks every block to find the work."""

from itertools import chain, islice

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
    """Blocks by the kind of repair they need; a block is in one queue at most. Each queue keeps insertion order
    (a dict used as an ordered set), so a block that cannot be served now goes to the back and does not starve the
    rest."""

    def __init__(self):
        self._queues = tuple({} for _ in range(CORRUPT + 1))
        self._level = {}  # block id -> its queue

    def put(self, block_id, level):
        """Queue ``block_id`` in ``level``, or in none with ``level`` None (the block is healthy or gone)."""
        now = self._level.get(block_id)
        if now == level:
            return
        if now is not None:
            del self._queues[now][block_id]
        if level is None:
            del self._level[block_id]
        else:
            self._queues[level][block_id] = None
            self._level[block_id] = level

    def level_of(self, block_id):
        return self._level.get(block_id)

    def to_back(self, block_id):
        """Move a block that could not be served to the back of its queue."""
        queue = self._queues[self._level[block_id]]
        del queue[block_id]
        queue[block_id] = None

    def count(self, *levels):
        return sum(len(self._queues[level]) for level in levels)

    def blocks(self, *levels, limit=None):
        """A snapshot of the first ``limit`` (or all) blocks in ``levels``, in that order: the queues may change
        while it is walked."""
        return list(islice(chain.from_iterable(self._queues[level] for level in levels), limit))

    def clear(self):
        for queue in self._queues:
            queue.clear()
        self._level.clear()

    def __len__(self):
        return len(self._level)
