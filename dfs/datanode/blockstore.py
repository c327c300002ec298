"""Block files on a datanode's disk: ``blocks/<id[:2]>/<id>``, written to ``incoming/`` first and renamed once durable."""

import hashlib
import json
import os
import re
import shutil
import threading
import uuid
from collections import deque

from twisted.logger import Logger

from dfs.errors import BadRequest, Conflict, Corrupt, FileNotFound, NoSpace

log = Logger()

BLOCK_ID = re.compile(r"\A[0-9a-f]{64}\Z")
MARKS_HONOURED = 20  # a delete may carry any of the last this many marks handed out (heartbeats)


def check_block_id(block_id):
    if not isinstance(block_id, str) or not BLOCK_ID.match(block_id):
        raise BadRequest("a block id is exactly 64 lowercase hex characters")
    return block_id


def write_json_atomically(path, obj):
    tmp = f"{path}.{uuid.uuid4().hex}.tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(os.path.dirname(path))


def fsync_dir(path):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BlockSink:
    """A block arriving in a request body: written to ``incoming/`` and hashed as the bytes come in.

    twisted.web hands request bodies to this object (``Site.getContentFile``) instead of a temporary file,
    so an upload touches the disk once. Closing it without ``commit`` removes the partial file.
    """

    def __init__(self, store):
        self.store = store
        self.path = os.path.join(store.incoming, uuid.uuid4().hex)
        self._file = open(self.path, "wb", buffering=0)  # chunks go straight to the kernel: no copy
        self._hash = hashlib.sha256()
        self.length = 0
        self.error = None
        self.committed = False

    def write(self, data):
        if self.error is not None:
            return
        try:
            view = memoryview(data)
            while view:  # an unbuffered write may take part of the chunk
                view = view[self._file.write(view):]
        except OSError as e:
            self.error = e
            return
        self._hash.update(data)
        self.length += len(data)

    # twisted.web rewinds and may read the body of form posts; block bodies are never forms.
    def seek(self, offset, whence=0):
        return 0

    def tell(self):
        return self.length

    def read(self, size=-1):
        return b""

    def fileno(self):
        return self._file.fileno()

    def block_id(self):
        return self._hash.hexdigest()

    def finish_sync(self):
        """Flush and fsync the data (call in a thread)."""
        try:
            if self.error is None:
                self._file.flush()
                os.fsync(self._file.fileno())
            self._file.close()
        except OSError as e:
            self.error = self.error or e
        if self.error is not None:
            self.store.full = True
            raise NoSpace(f"datanode could not store the block: {self.error}") from None

    def close(self):
        if not self._file.closed:
            self._file.close()
        if not self.committed:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass


class BlockStore:
    """The blocks of one datanode. Methods ending in ``_sync`` touch the disk and belong in a thread."""

    def __init__(self, root, capacity=None, reserve=0):
        self.root = os.path.abspath(root)
        self.blocks_dir = os.path.join(self.root, "blocks")
        self.incoming = os.path.join(self.root, "incoming")
        self.quarantine = os.path.join(self.root, "corrupt")
        self.capacity_limit = capacity
        self.reserve = reserve
        os.makedirs(self.blocks_dir, exist_ok=True)
        os.makedirs(self.incoming, exist_ok=True)
        os.makedirs(self.quarantine, exist_ok=True)
        self.used = 0
        self.block_ids = set()
        self._verified = {}  # block id -> (size, mtime_ns) of the file when its hash last matched
        self.full = False  # set when a write hit ENOSPC; cleared by the next successful scan
        # Stores and deletes of one id must not interleave: every store, or confirmation that a block is already
        # here, gets the next number, and a delete is refused for a block stored after the mark it carries.
        self._boot = uuid.uuid4().hex[:12]
        self._stores = 0
        self._stored_at = {}  # block id -> number of its latest store, for stores after the oldest honoured mark
        self._marks = deque(maxlen=MARKS_HONOURED)
        self._ids_lock = threading.Lock()

    def identity(self):
        """This node's persistent id and the cluster it joined (``node.json``), created on first start."""
        path = os.path.join(self.root, "node.json")
        try:
            with open(path) as f:
                return json.load(f)
        except FileNotFoundError:
            ident = {"id": uuid.uuid4().hex[:12], "cluster_id": None}
            write_json_atomically(path, ident)
            return ident

    def remember_cluster(self, ident, cluster_id):
        ident["cluster_id"] = cluster_id
        write_json_atomically(os.path.join(self.root, "node.json"), ident)

    def path(self, block_id):
        check_block_id(block_id)
        return os.path.join(self.blocks_dir, block_id[:2], block_id)

    def size_of(self, block_id):
        try:
            return os.path.getsize(self.path(block_id))
        except FileNotFoundError:
            return 0

    def has(self, block_id):
        return block_id in self.block_ids

    def scan_sync(self):
        """Learn what is on disk (at start): the block set and the bytes used; clear stale incoming files."""
        ids, used = set(), 0
        for prefix in os.listdir(self.blocks_dir):
            folder = os.path.join(self.blocks_dir, prefix)
            for name in os.listdir(folder):
                if BLOCK_ID.match(name):
                    ids.add(name)
                    used += os.path.getsize(os.path.join(folder, name))
        self.block_ids, self.used = ids, used
        self.full = False
        return ids

    def prune_missing_sync(self):
        """Forget blocks whose files vanished from disk (before a full block report); returns them."""
        missing = [b for b in list(self.block_ids) if not os.path.exists(self.path(b))]
        for block_id in missing:
            self._forget(block_id, 0)
            log.warn("block {block} vanished from disk", block=block_id)
        return missing

    def clean_incoming_sync(self, older_than, now):
        """Remove abandoned partial uploads and quarantined copies older than ``older_than`` seconds."""
        removed = 0
        for path in [os.path.join(d, n) for d in (self.incoming, self.quarantine) for n in os.listdir(d)]:
            try:
                if now - os.path.getmtime(path) >= older_than:
                    os.unlink(path)
                    removed += 1
            except FileNotFoundError:
                pass
        return removed

    def usage(self):
        st = os.statvfs(self.root)
        capacity = st.f_blocks * st.f_frsize
        free = st.f_bavail * st.f_frsize
        if self.capacity_limit is not None:
            capacity = min(capacity, self.capacity_limit)
            free = min(free, max(0, capacity - self.used))
        if self.full:
            free = 0
        return {"capacity": capacity, "used": self.used, "free": max(0, free - self.reserve)}

    def new_sink(self):
        return BlockSink(self)

    def commit_sync(self, sink):
        """Make a received block durable under its content id; returns (id, length)."""
        sink.finish_sync()
        block_id = sink.block_id()
        if self.confirm(block_id):
            sink.close()
        else:
            self._install([(sink.path, block_id, sink.length)])
            sink.committed = True
        return block_id, sink.length

    def commit_many_sync(self, source, lengths):
        """Make the blocks cut by ``lengths`` from the file object ``source`` (all of it) durable under their
        content ids: [(id, length)]. Each is written to ``incoming/`` and synced, then all are installed with one
        sync per directory, so a batch costs one round of syncs rather than one per block."""
        stored, fresh = [], []
        try:
            for length in lengths:
                data = source.read(length)
                if len(data) != length:
                    raise BadRequest(f"the batch ended {length - len(data)} bytes short of its lengths")
                block_id = hashlib.sha256(data).hexdigest()
                stored.append((block_id, length))
                if self.confirm(block_id):
                    continue
                tmp = os.path.join(self.incoming, uuid.uuid4().hex)
                fresh.append((tmp, block_id, length))
                with open(tmp, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
            if source.read(1):
                raise BadRequest("the batch is longer than its lengths")
            self._install(fresh)
        except BaseException:
            for tmp, _, _ in fresh:
                if os.path.exists(tmp):
                    os.unlink(tmp)
            raise
        return stored

    def confirm(self, block_id):
        """Whether the block is here already; if so, it counts as stored now (a delete issued before spares it)."""
        with self._ids_lock:
            if block_id in self.block_ids and os.path.exists(self.path(block_id)):
                self._stored(block_id)
                return True
            return False

    def _stored(self, block_id):
        self._stores += 1
        self._stored_at[block_id] = self._stores

    def mark(self):
        """A token for this moment, sent to the namenode: a delete that carries it later is refused for any
        block stored or confirmed after it."""
        with self._ids_lock:
            self._marks.append(self._stores)
            oldest = self._marks[0]  # stores up to the oldest honoured mark can no longer refuse a delete
            self._stored_at = {b: n for b, n in self._stored_at.items() if n > oldest}
            return f"{self._boot}:{self._stores}"

    def _stored_since(self, block_id, mark):
        """Whether the block was stored after ``mark`` (or the mark is not one this process can judge)."""
        boot, _, number = mark.partition(":")
        if boot != self._boot or not number.isdigit() or not self._marks or int(number) < self._marks[0]:
            return True
        return self._stored_at.get(block_id, 0) > int(number)

    def _install(self, blocks):
        """Rename synced files into place, [(file, id, length)], count them, and sync each directory once."""
        folders = set()
        with self._ids_lock:
            for tmp, block_id, length in blocks:
                final = self.path(block_id)
                os.makedirs(os.path.dirname(final), exist_ok=True)
                os.replace(tmp, final)
                folders.add(os.path.dirname(final))
                self._added(block_id, length)
                self._stored(block_id)
        for folder in folders:
            fsync_dir(folder)

    def _added(self, block_id, length):
        """A block just written and hashed on its way to disk: it counts, and needs no re-check on first read
        (bit rot after this is the scrubber's to find)."""
        if block_id not in self.block_ids:
            self.block_ids.add(block_id)
            self.used += length
        st = os.stat(self.path(block_id))
        self._verified[block_id] = (st.st_size, st.st_mtime_ns)

    def store_verified_sync(self, block_id, tmp_path):
        """Install a block copied from a peer after checking that its bytes hash to its id."""
        hasher, length = hashlib.sha256(), 0
        with open(tmp_path, "rb") as f:
            while chunk := f.read(1 << 20):
                hasher.update(chunk)
                length += len(chunk)
            os.fsync(f.fileno())
        if hasher.hexdigest() != block_id:
            os.unlink(tmp_path)
            raise Corrupt(f"copy of block {block_id} from the peer does not match its id")
        self._install([(tmp_path, block_id, length)])
        return length

    def delete_sync(self, block_id, unless_stored_after=None):
        """Delete a block; with a mark, only if it was not stored or confirmed since that mark."""
        path = self.path(block_id)
        with self._ids_lock:
            if unless_stored_after is not None and self._stored_since(block_id, unless_stored_after):
                raise Conflict(f"block {block_id} was stored since mark {unless_stored_after}: kept")
            try:
                length = os.path.getsize(path)
                os.unlink(path)
            except FileNotFoundError:
                self.block_ids.discard(block_id)
                raise FileNotFound(f"block {block_id} is not on this datanode") from None
            self._forget(block_id, length)
        return length

    def wipe_sync(self):
        shutil.rmtree(self.blocks_dir, ignore_errors=True)
        os.makedirs(self.blocks_dir, exist_ok=True)
        self.block_ids, self.used = set(), 0
        self._verified.clear()

    def verified_before(self, block_id):
        """Whether this copy checked out before and its size and mtime are unchanged since: one stat, which a
        read costs anyway, so a repeated read needs no trip to a disk thread."""
        try:
            st = os.stat(self.path(block_id))
        except FileNotFoundError:
            return False
        return self._verified.get(block_id) == (st.st_size, st.st_mtime_ns)

    def verify_sync(self, block_id):
        """Hash the block's bytes and compare them with its id; a bad or vanished copy is quarantined.

        Returns True, or False when the copy was bad (the caller reports it). A good check is remembered for
        ``verified_before``, which reads consult first; the scrubber always hashes, since bit rot changes
        neither size nor mtime.
        """
        path = self.path(block_id)
        try:
            st = os.stat(path)
            hasher = hashlib.sha256()
            with open(path, "rb") as f:
                while chunk := f.read(1 << 20):
                    hasher.update(chunk)
        except FileNotFoundError:
            self._forget(block_id, 0)
            return False
        if hasher.hexdigest() == block_id:
            self._verified[block_id] = (st.st_size, st.st_mtime_ns)
            return True
        os.replace(path, os.path.join(self.quarantine, block_id))
        self._forget(block_id, st.st_size)
        log.warn("block {block} failed verification and was quarantined", block=block_id)
        return False

    def _forget(self, block_id, length):
        if block_id in self.block_ids:
            self.block_ids.discard(block_id)
            self.used -= length
        self._verified.pop(block_id, None)
