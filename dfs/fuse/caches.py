"""What the mount remembers between operations: recent file statuses and listings, and verified block pieces on disk."""

import os
import threading
import time
from collections import OrderedDict

from dfs import chunks, paths
from dfs.errors import IOFailure

PRUNE_AT = 10_000
# A lookup that misses in a directory listed before (now expired) lists it again when it held at most this many
# names: one request then answers the lookups of the next ``ttl`` seconds (tar, cp -r, rsync creating files).
RELIST_MAX = 4096
# A listing this many of whose names were looked up (answered from it, or asked for alone once it expired) is being
# walked (rm -rf, ls -l, find, du): a lookup of another name it held lists the directory again, instead of asking for
# each name alone.
WALKED = 8
# The block cache's unit of eviction: one sparse file per SEGMENT bytes of a block, filled chunk by chunk.
SEGMENT = 16 * 1024 * 1024
# Rounds a read of a segment's chunks may wait for other reads' fetches before it fails (each round fetches or
# waits; one follows another only when a fetch it waited for failed).
MAX_ROUNDS = 8


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
    """Pieces of blocks on local disk, at most ``limit`` bytes. Each SEGMENT of a block is one sparse file holding
    the chunks (dfs.chunks.CHUNK_SIZE) fetched so far, each checked as it arrived; the least recently used segments
    go first. A read fetches just the chunks it lacks: a 4 KiB read moves 64 KiB, not a segment.

    Blocks are immutable and named by their content, so a chunk stays valid for as long as it is kept.
    """

    def __init__(self, client, directory, limit):
        self._client = client
        self._dir = directory
        self._limit = limit
        self._lock = threading.Lock()
        self._held = OrderedDict()  # (block id, segment index) -> _Segment
        self._total = 0
        self._users = {}  # (block id, segment index) -> reads fetching or awaiting chunks of it (never evicted)

    def read(self, location, start, count):
        """``count`` bytes from ``start`` in the block that ``location`` (a BlockLocation dict) names."""
        pieces = []
        for index, within, take in _by_segment(start, count):
            fd = self._open(location, index, within, take)
            try:
                pieces.append(os.pread(fd, take, within))
            finally:
                os.close(fd)
        return b"".join(pieces)

    def prefetch(self, location, start, count):
        """Fetch the chunks of bytes [start, start+count) of a block that are not kept yet (read-ahead)."""
        for index, within, take in _by_segment(start, count):
            os.close(self._open(location, index, within, take))

    def _open(self, location, index, within, count):
        """A descriptor on segment ``index`` once it holds every chunk of its bytes [within, within+count). The
        missing ones nobody is fetching are fetched (one request from the first to the last); those another read
        is fetching are waited for, so readers of other chunks of the segment never wait on each other. Opened
        under the lock, so eviction, which only unlinks and skips segments in use, never pulls the file away."""
        key = (location["blockId"], index)
        size = min(SEGMENT, location["blockSize"] - index * SEGMENT)
        _, end, first_chunk = chunks.aligned(within, count, size)
        wanted = range(first_chunk, -(-end // chunks.CHUNK_SIZE))
        with self._lock:
            fd = self._open_held(key, wanted)
            if fd is not None:
                return fd
            self._users[key] = self._users.get(key, 0) + 1
            segment = self._held.setdefault(key, _Segment(size))  # the file exists from the first fetch's start
        done, fd = False, None
        try:
            # Each round fetches what nobody else is fetching, or else waits for the other reads' fetches; a
            # round after one of those failed takes its chunks over.
            for _ in range(MAX_ROUNDS):
                with self._lock:
                    fetched, arriving, others = segment.claim(wanted)
                if fetched is None:
                    if not others:
                        break
                    for event in others:
                        event.wait()
                    continue
                try:
                    self._fetch(location, index, fetched, size)
                    with self._lock:
                        self._total += segment.keep(fetched)
                finally:
                    with self._lock:
                        segment.release(arriving)
            else:
                raise IOFailure(f"chunks of block {key[0][:12]}… did not arrive in {MAX_ROUNDS} rounds")
            done = True
        finally:
            with self._lock:
                self._users[key] -= 1
                if not self._users[key]:
                    del self._users[key]
                if done:
                    fd = self._open_held(key, wanted)  # now the newest segment, which eviction keeps
                self._evict()
        return fd

    def _open_held(self, key, wanted):
        """A descriptor on the segment when it holds every chunk in ``wanted``, else None (caller holds the lock)."""
        segment = self._held.get(key)
        if segment is None or not all(c in segment.chunks for c in wanted):
            return None
        self._held.move_to_end(key)
        return os.open(self._path(key), os.O_RDONLY)

    def _fetch(self, location, index, wanted, size):
        """Fetch chunks ``wanted`` (a range) of a segment from the first good replica into its file; the client
        checks every chunk before it writes it."""
        at = wanted.start * chunks.CHUNK_SIZE
        count = min(wanted.stop * chunks.CHUNK_SIZE, size) - at
        fd = os.open(self._path((location["blockId"], index)), os.O_WRONLY | os.O_CREAT, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.seek(at)
            self._client.fetch_block(location, f, index * SEGMENT + at, count)

    def _evict(self):
        """Drop least recently used segments beyond the limit, always keeping the newest one and any being fetched
        (caller holds the lock)."""
        newest = next(reversed(self._held), None)
        for key in list(self._held):
            if self._total <= self._limit or key == newest:
                break
            if key not in self._users:
                self._total -= self._held.pop(key).bytes
                try:
                    os.unlink(self._path(key))
                except FileNotFoundError:  # a segment whose first fetch failed before creating its file
                    pass

    def _path(self, key):
        block_id, index = key
        return os.path.join(self._dir, f"{block_id}.{index}")


class _Segment:
    """Which chunks of one segment's file hold checked bytes, how many bytes they are, and which chunks reads are
    fetching (each with the Event its fetch sets when done)."""

    __slots__ = ("size", "chunks", "bytes", "coming")

    def __init__(self, size):
        self.size = size
        self.chunks = set()
        self.bytes = 0
        self.coming = {}

    def claim(self, wanted):
        """For a read of chunks ``wanted`` (a range): the range of chunks to fetch now, from the first missing one
        nobody is fetching to the last (None: nothing to fetch), the Event to set when that fetch ends (claimed for
        those chunks), and the Events of other reads' fetches to wait for (caller holds the cache's lock)."""
        missing = [c for c in wanted if c not in self.chunks]
        others = {self.coming[c] for c in missing if c in self.coming}
        mine = [c for c in missing if c not in self.coming]
        if not mine:
            return None, None, others
        fetched, arriving = range(mine[0], mine[-1] + 1), threading.Event()
        for chunk in fetched:
            if chunk not in self.chunks:
                self.coming.setdefault(chunk, arriving)
        return fetched, arriving, others

    def release(self, arriving):
        """The fetch that claimed chunks with ``arriving`` ended, well or not: waiters look again."""
        for chunk in [c for c, event in self.coming.items() if event is arriving]:
            del self.coming[chunk]
        arriving.set()

    def keep(self, fetched):
        """Note the chunks in range ``fetched`` as held; returns the bytes this adds."""
        added = 0
        for chunk in fetched:
            if chunk not in self.chunks:
                self.chunks.add(chunk)
                added += min(chunks.CHUNK_SIZE, self.size - chunk * chunks.CHUNK_SIZE)
        self.bytes += added
        return added


def _by_segment(start, count):
    """(segment index, offset in it, count) of each segment bytes [start, start+count) of a block lie in."""
    while count > 0:
        index, within = divmod(start, SEGMENT)
        take = min(count, SEGMENT - within)
        yield index, within, take
        start, count = start + take, count - take
