"""What the mount remembers between operations: recent file statuses and listings, and verified block pieces on disk."""

import os
import tempfile
import threading
import time
from collections import OrderedDict

from dfs import paths

PRUNE_AT = 10_000
# A lookup that misses in a directory listed before (now expired) lists it again when it held at most this many
# names: one request then answers the lookups of the next ``ttl`` seconds (tar, cp -r, rsync creating files).
RELIST_MAX = 4096
# A listing this many of whose names were looked up (answered from it, or asked for alone once it expired) is being
# walked (rm -rf, ls -l, find, du): a lookup of another name it held lists the directory again, instead of asking for
# each name alone.
WALKED = 8
# What a cache miss fetches of a block: a 4 KiB read moves 16 MiB, not 64. 4 MiB segments cost sequential reads
# through the mount half their speed here (a round trip per segment), 16 MiB ones nothing measurable.
SEGMENT = 16 * 1024 * 1024


def _cacheable(status):
    """A file with several names (hard links) changes through any of them, and a change tells the cache only the
    name it came through: such a file's status is asked for each time rather than kept."""
    return status.get("type") == "DIRECTORY" or status.get("nlink", 1) == 1


class _Listing:
    """A directory's names as last listed, trusted until ``expires``; ``used``: the names of it looked up."""

    __slots__ = ("expires", "names", "used")

    def __init__(self, expires, names):
        self.expires = expires
        self.names = names
        self.used = set()


class AttributeCache:
    """FileStatus dicts of recently seen paths and the names in recently listed directories, kept ``ttl`` seconds.

    Other mounts' changes show up once an entry expires. This mount's own changes never do: every operation that
    changes the namespace tells the cache first (``changed``, ``created``, ``deleted``).
    """

    def __init__(self, ttl, clock=time.monotonic):
        self.ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._statuses = {}  # path -> (expires, status, the _Listing it came from until first used, else None)
        self._listings = {}  # directory -> _Listing
        self._generation = 0
        self._prune_at = PRUNE_AT

    def generation(self):
        """Take this before asking the cluster and hand it to ``store``: an answer that raced with a change made
        here in the meantime is then dropped instead of cached."""
        with self._lock:
            return self._generation

    def status(self, path):
        with self._lock:
            entry = self._statuses.get(path)
            if entry is None or entry[0] <= self._clock():
                return None
            if entry[2] is not None:  # the first use of this name from its listing
                entry[2].used.add(paths.basename(path))
                self._statuses[path] = (entry[0], entry[1], None)
            return entry[1]

    def listing(self, directory):
        """The names of ``directory`` (sorted, as LISTSTATUS gives them) while its listing is trusted, else None."""
        with self._lock:
            entry = self._listings.get(directory)
            return sorted(entry.names) if entry is not None and entry.expires > self._clock() else None

    def known_absent(self, path):
        """True when the parent was listed recently and ``path`` was not in it."""
        if path == "/":
            return False
        with self._lock:
            entry = self._listings.get(paths.parent(path))
            return entry is not None and entry.expires > self._clock() and paths.basename(path) not in entry.names

    def worth_relisting(self, path):
        """Whether to look ``path`` up by listing its parent again: the parent was listed before (the listing may
        have expired), was small, and did not hold the name (a name about to be created, most likely) or is being
        walked (WALKED). Another name it held is asked for alone (one small answer instead of the whole directory),
        and counts towards a walk."""
        name = paths.basename(path)
        with self._lock:
            entry = self._listings.get(paths.parent(path))
            if entry is None or len(entry.names) > RELIST_MAX:
                return False
            if name not in entry.names or len(entry.used) >= WALKED:
                return True
            entry.used.add(name)
            return False

    def store(self, path, status, generation):
        with self._lock:
            if generation == self._generation:
                self._keep(path, status)
                self._prune()

    def _keep(self, path, status):
        """Cache ``status`` as ``path``'s (caller holds the lock); None, or one not to keep, drops what was kept."""
        if status is not None and _cacheable(status):
            self._statuses[path] = (self._clock() + self.ttl, status, None)
        else:
            self._statuses.pop(path, None)

    def store_listing(self, directory, statuses, generation):
        """Remember a LISTSTATUS answer: the children's statuses and, for negative lookups, their names."""
        expires = self._clock() + self.ttl
        with self._lock:
            if generation != self._generation:
                return
            listing = self._listings[directory] = _Listing(expires, {s["pathSuffix"] for s in statuses})
            for status in statuses:
                if _cacheable(status):
                    self._statuses[paths.join(directory, status["pathSuffix"])] = (expires, status, listing)
            self._prune()

    def _prune(self):
        """Drop expired entries once the tables have grown, so a long-lived mount does not keep every path seen."""
        if len(self._statuses) + len(self._listings) < self._prune_at:
            return
        now = self._clock()
        for key in [k for k, entry in self._statuses.items() if entry[0] <= now]:
            del self._statuses[key]
        for key in [k for k, entry in self._listings.items() if entry.expires <= now]:
            del self._listings[key]
        self._prune_at = max(PRUNE_AT, 2 * (len(self._statuses) + len(self._listings)))

    def changed(self, path, status=None):
        """``path`` changed; ``status``: the cluster's answer to the change, which describes it now (None: unknown)."""
        with self._lock:
            self._generation += 1
            self._keep(path, status)

    def created(self, path, status=None):
        """``path`` now exists (described by ``status`` when the cluster's answer did); its parent's mtime moved."""
        with self._lock:
            self._generation += 1
            self._keep(path, status)
            self._forget_parent(path)
            listing = self._listings.get(paths.parent(path))
            if listing is not None:
                listing.names.add(paths.basename(path))

    def deleted(self, path, tree=False):
        """``path`` (and with ``tree`` everything below it) is gone; its parent's mtime moved."""
        prefix = path.rstrip("/") + "/"
        with self._lock:
            self._generation += 1
            for table in (self._statuses, self._listings):
                table.pop(path, None)
                if tree:
                    for key in [k for k in table if k.startswith(prefix)]:
                        del table[key]
            self._forget_parent(path)
            listing = self._listings.get(paths.parent(path))
            if listing is not None:
                listing.names.discard(paths.basename(path))

    def _forget_parent(self, path):
        if path != "/":
            self._statuses.pop(paths.parent(path), None)


class BlockCache:
    """Pieces of blocks on local disk, SEGMENT bytes each, every chunk checked as it arrives, at most ``limit``
    bytes (LRU). A small read fetches one segment, not a whole block.

    Blocks are immutable and named by their content, so an entry stays valid for as long as it is kept.
    """

    def __init__(self, client, directory, limit):
        self._client = client
        self._dir = directory
        self._limit = limit
        self._lock = threading.Lock()
        self._sizes = OrderedDict()  # (block id, segment index) -> bytes kept
        self._total = 0
        self._fetching = {}
        self._claimed = set()  # segments a read-ahead was started for

    def read(self, location, start, count):
        """``count`` bytes from ``start`` in the block that ``location`` (a BlockLocation dict) names."""
        pieces = []
        while count > 0:
            index, within = divmod(start, SEGMENT)
            take = min(count, SEGMENT - within)
            fd = self._open(location, index)
            try:
                pieces.append(os.pread(fd, take, within))
            finally:
                os.close(fd)
            start, count = start + take, count - take
        return b"".join(pieces)

    def prefetch(self, location, index):
        try:
            os.close(self._open(location, index))
        finally:
            with self._lock:
                self._claimed.discard((location["blockId"], index))

    def claim(self, block_id, index):
        """True, once, for a segment neither kept nor on its way: the caller then reads it ahead (``prefetch``)."""
        key = (block_id, index)
        with self._lock:
            if key in self._sizes or key in self._fetching or key in self._claimed:
                return False
            self._claimed.add(key)
            return True

    def _open(self, location, index):
        """A descriptor on the cached segment, fetching it first if needed. Opened under the lock, so eviction,
        which only unlinks, can never pull the file away between lookup and open."""
        key = (location["blockId"], index)
        with self._lock:
            if key in self._sizes:
                self._sizes.move_to_end(key)
                return os.open(self._path(key), os.O_RDONLY)
            fetch_lock = self._fetching.setdefault(key, threading.Lock())
        with fetch_lock:
            with self._lock:
                if key in self._sizes:
                    self._sizes.move_to_end(key)
                    return os.open(self._path(key), os.O_RDONLY)
            try:
                size = self._fetch(location, index)
            finally:
                with self._lock:
                    self._fetching.pop(key, None)
            with self._lock:
                self._sizes[key] = size
                self._total += size
                self._evict()
                return os.open(self._path(key), os.O_RDONLY)

    def _fetch(self, location, index):
        """Fetch one segment from the first good replica; the client checks every chunk before it writes it."""
        fd, tmp = tempfile.mkstemp(dir=self._dir, prefix=".fetch-")
        start = index * SEGMENT
        try:
            with os.fdopen(fd, "wb") as f:
                self._client.fetch_block(location, f, start, min(SEGMENT, location["blockSize"] - start))
                size = f.tell()
            os.replace(tmp, self._path((location["blockId"], index)))
            return size
        except BaseException:
            os.unlink(tmp)
            raise

    def _evict(self):
        """Drop least recently used segments beyond the limit, always keeping the newest one."""
        while self._total > self._limit and len(self._sizes) > 1:
            key, size = self._sizes.popitem(last=False)
            self._total -= size
            os.unlink(self._path(key))

    def _path(self, key):
        block_id, index = key
        return os.path.join(self._dir, f"{block_id}.{index}")
