"""Block files on a datanode's disks: ``blocks/<id[:2]>/<id>`` under one of its data directories (dfs.datanode.volumes),
written to that directory's ``incoming/`` first and renamed once durable.

Beside each block of more than one chunk, ``<id>.crc`` holds its chunk checksums (dfs.chunks); every read checks
the chunks it returns. A block of at most one chunk has no ``.crc``: it is checked against its id (``checked_by_id``).
"""

import errno
import hashlib
import json
import os
import re
import shutil
import socket
import threading
import uuid
from collections import OrderedDict, deque

from twisted.logger import Logger

from dfs import chunks
from dfs.datanode import layout
from dfs.datanode.volumes import Volume
from dfs.errors import BadRequest, Conflict, Corrupt, FileNotFound, NoSpace, NotLeader

log = Logger()

BLOCK_ID = re.compile(r"\A[0-9a-f]{64}\Z")
MARKS_HONOURED = 20  # a delete may carry any of the last this many marks handed out (heartbeats)
SUMS_SUFFIX = ".crc"
EPOCH_FILE = "leader-epoch.json"  # the highest epoch of the namenodes' lease a DELETE carried
# After a write hit ENOSPC the node offers no space until this much more is free than then (a little more would
# only draw the next block into the same error).
FREED_ENOUGH = 1024 * 1024
# Blocks whose decoded chunk checksums are kept in memory: a small read then checks its chunk without opening and
# decoding the block's checksum file again (about 40 KiB each for a 64 MiB block).
SUMS_KEPT = 256


def checked_by_id(length):
    """Whether a block of ``length`` bytes is checked against its id (its SHA-256) instead of a checksum file: a block
    of at most one chunk, which every read covers whole, so hashing it costs what checking its one chunk would, and
    storing it costs one file less to create, sync and delete."""
    return length <= chunks.CHUNK_SIZE


def check_block_id(block_id):
    if not isinstance(block_id, str) or not BLOCK_ID.match(block_id):
        raise BadRequest("a block id is exactly 64 lowercase hex characters")
    return block_id


def write_json_atomically(path, obj):
    write_atomically(path, json.dumps(obj).encode())


def write_atomically(path, data):
    tmp = f"{path}.{uuid.uuid4().hex}.tmp"
    _write_synced(tmp, data)
    os.replace(tmp, path)
    fsync_dir(os.path.dirname(path))


def _write_synced(path, data):
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


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

    def __init__(self, store, volume):
        self.store = store
        self.volume = volume
        self.path = os.path.join(volume.incoming, uuid.uuid4().hex)
        self._file = open(self.path, "wb", buffering=0)  # chunks go straight to the kernel: no copy
        self._hash = hashlib.sha256()
        self._summer = chunks.Summer()
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
        self._summer.update(data)
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

    def chunk_sums(self):
        return self._summer.result()

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
            self.store.mark_full(self.volume)
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
    """The blocks of one datanode, on the data directories ``roots`` (a list, or one string of comma-separated
    paths), each also holding the node's identity. Methods ending in ``_sync`` touch the disk and belong in a
    thread.

    A directory that cannot be prepared at start, or fails later (``check_volumes_sync``), is out of use: its
    blocks are forgotten, so the next block report tells the namenode, which copies them again."""

    def __init__(self, roots, capacity=None, reserve=0):
        if isinstance(roots, str):
            roots = roots.split(",")
        self.volumes = [Volume(r.strip()) for r in roots if r.strip()]
        if not self.volumes:
            raise ValueError("a datanode needs at least one data directory")
        self.capacity_limit = capacity
        self.reserve = reserve  # per filesystem, as HDFS's dfs.datanode.du.reserved is per volume
        self._volume_of = {}  # block id -> the Volume holding it
        # Stores and deletes of one id must not interleave: every store, or confirmation that a block is already
        # here, gets the next number, and a delete is refused for a block stored after the mark it carries.
        self._boot = uuid.uuid4().hex[:12]
        self._stores = 0
        self._stored_at = {}  # block id -> number of its latest store, for stores after the oldest honoured mark
        self._marks = deque(maxlen=MARKS_HONOURED)
        self._ids_lock = threading.RLock()  # _forget takes it too, also under delete_sync
        self._sums = _Kept(SUMS_KEPT)  # block id -> its decoded checksum file, dropped whenever that file changes
        # Called, under the lock and maybe from a disk thread, with each block id that lands here and each that
        # leaves (deleted, vanished, quarantined, lost with its disk): the incremental block reports.
        self.on_new_block = []
        self.on_gone_block = []
        for volume in self.volumes:
            try:
                volume.prepare()
                _upgrade_layout(volume)
            except OSError as e:
                self._fail(volume, f"cannot use {volume.root}: {e}")
        # Datanodes on one filesystem share its capacity: the namenode counts it once. One with its own
        # --capacity has a share of its own.
        devices = "+".join(str(d) for d in sorted({v.device for v in self.in_use()}))
        self.filesystem = None if capacity else f"{socket.gethostname()}:{devices}"
        self.root = (self.in_use() or self.volumes)[0].root  # the scrubber's state; the one the logs name
        # The latest epoch of the namenodes' lease a DELETE carried: older ones are refused, also after a restart.
        self.epoch = self._saved_epoch()

    @property
    def block_ids(self):
        """The ids of the blocks held (a live view: copy it before iterating in a thread)."""
        return self._volume_of.keys()

    @property
    def used(self):
        return sum(v.used for v in self.in_use())

    def in_use(self):
        return [v for v in self.volumes if v.failed is None]

    def failed_volumes(self):
        """[(root, why)] of the data directories out of use."""
        return [(v.root, v.failed) for v in self.volumes if v.failed is not None]

    def _fail(self, volume, why):
        """Take ``volume`` out of use and forget its blocks; their ids."""
        volume.failed = why
        with self._ids_lock:
            lost = [b for b, v in self._volume_of.items() if v is volume]
            for block_id in lost:
                del self._volume_of[block_id]
                for tell in self.on_gone_block:
                    tell(block_id)
        volume.used = 0
        log.error("data directory {root} failed: {why}; {n} block(s) on it are lost", root=volume.root, why=why,
                  n=len(lost))
        return lost

    def check_volumes_sync(self):
        """Look at every data directory in use; take those that failed out of use. The blocks lost with them."""
        lost = []
        for volume in self.in_use():
            why = volume.problem()
            if why is not None:
                lost += self._fail(volume, why)
        return lost

    def identity(self):
        """This node's persistent id and the cluster it joined (``node.json``), created on first start. Every data
        directory in use keeps a copy, so the node keeps its id when any of its disks is lost (as HDFS's VERSION)."""
        found = None
        for volume in self.in_use():
            try:
                with open(os.path.join(volume.root, "node.json")) as f:
                    found = json.load(f)
                break
            except FileNotFoundError:
                continue
        ident = found or {"id": uuid.uuid4().hex[:12], "cluster_id": None}
        self._keep_identity(ident, missing_only=True)
        return ident

    def _saved_epoch(self):
        """The newest epoch any data directory kept (each keeps it, like the identity, to outlive a lost disk)."""
        epochs = [0]
        for volume in self.in_use():
            try:
                with open(os.path.join(volume.root, EPOCH_FILE)) as f:
                    epochs.append(json.load(f)["epoch"])
            except FileNotFoundError:
                continue
        return max(epochs)

    def remember_cluster(self, ident, cluster_id):
        ident["cluster_id"] = cluster_id
        self._keep_identity(ident)

    def _keep_identity(self, ident, missing_only=False):
        for volume in self.in_use():
            path = os.path.join(volume.root, "node.json")
            if not (missing_only and os.path.exists(path)):
                write_json_atomically(path, ident)

    def path(self, block_id):
        """Where the block is, or would be on the first volume in use if it is not here."""
        check_block_id(block_id)
        volume = self._volume_of.get(block_id) or self._any_volume()
        return volume.path(block_id)

    def _any_volume(self):
        volumes = self.in_use()
        if not volumes:
            raise NoSpace("every data directory of this datanode failed")
        return volumes[0]

    def sums_path(self, block_id):
        return self.path(block_id) + SUMS_SUFFIX

    def size_of(self, block_id):
        try:
            return os.path.getsize(self.path(block_id))
        except FileNotFoundError:
            return 0

    def has(self, block_id):
        return block_id in self.block_ids

    def scan_sync(self):
        """Learn what is on disk (at start): the blocks on each volume and the bytes they use."""
        held = {}
        for volume in self.in_use():
            volume.used, volume.full_at = 0, None
            for prefix in os.listdir(volume.blocks_dir):
                folder = os.path.join(volume.blocks_dir, prefix)
                for name in os.listdir(folder):
                    if BLOCK_ID.match(name) and name not in held:  # a copy on a second volume stays unused
                        held[name] = volume
                        volume.used += os.path.getsize(os.path.join(folder, name))
        self._volume_of = held
        return set(held)

    def prune_missing_sync(self):
        """Forget blocks whose files vanished from disk (before a full block report); returns them."""
        with self._ids_lock:
            held = list(self.block_ids)
        missing = [b for b in held if not os.path.exists(self.path(b))]
        for block_id in missing:
            self._forget(block_id, 0)
            _remove(self.sums_path(block_id))
            log.warn("block {block} vanished from disk", block=block_id)
        return missing

    def report_sync(self):
        """A full block report: the ids held now, without blocks removed behind this datanode's back. Every block
        that lands or leaves after it is taken goes to ``on_new_block`` or ``on_gone_block``, never before."""
        self.prune_missing_sync()
        with self._ids_lock:
            return list(self.block_ids)

    def clean_incoming_sync(self, older_than, now):
        """Remove abandoned partial uploads and quarantined copies older than ``older_than`` seconds."""
        removed = 0
        folders = [d for v in self.in_use() for d in (v.incoming, v.quarantine)]
        for path in [os.path.join(d, n) for d in folders for n in _listing(d)]:
            try:
                if now - os.path.getmtime(path) >= older_than:
                    os.unlink(path)
                    removed += 1
            except FileNotFoundError:
                pass
        return removed

    def _room(self, space):
        """Free bytes of a filesystem whose (capacity, free) is ``space``, within ``capacity_limit``."""
        if self.capacity_limit is None:
            return space[1]
        return min(space[1], max(0, self.capacity_limit - self.used))

    def _free(self, volume, space):
        """Bytes ``volume`` offers for blocks, its filesystem's ``space`` (capacity, free) known: none while a
        write there last hit ENOSPC and not enough was freed since."""
        free = self._room(space)
        if volume.full_at is not None:
            if free >= volume.full_at + FREED_ENOUGH:  # a block deleted here, or anything on the same disk
                volume.full_at = None
            else:
                return 0
        return max(0, free - self.reserve)

    def _spaces(self):
        """{volume: (capacity, free)} of the volumes in use, but one that fails to say (gone since the last check
        of the volumes, which takes it out of use)."""
        spaces = {}
        for volume in self.in_use():
            try:
                spaces[volume] = volume.space()
            except OSError:
                pass
        return spaces

    def mark_full(self, volume=None):
        """A write hit ENOSPC on ``volume`` (None: one of them, unknown): offer no space there (so no new block
        goes there) until some is freed."""
        for v in [volume] if volume is not None else self.in_use():
            v.full_at = self._room(v.space())

    def usage(self):
        """Capacity and free bytes summed over the filesystems of the volumes in use (each counted once), within
        ``capacity_limit``."""
        capacity = free = 0
        counted = set()
        for volume, space in self._spaces().items():
            if volume.device not in counted:
                counted.add(volume.device)
                capacity += space[0]
                free += self._free(volume, space)
        if self.capacity_limit is not None:
            capacity = min(capacity, self.capacity_limit)
            free = min(free, max(0, capacity - self.used))
        return {"capacity": capacity, "used": self.used, "free": free, "filesystem": self.filesystem,
                "failed_volumes": len(self.failed_volumes())}

    def _volume_for_new(self):
        """Where a new block goes: the volume with the most free space; of volumes sharing a filesystem, the one
        holding fewest bytes."""
        spaces = self._spaces()
        if not spaces:
            raise NoSpace("every data directory of this datanode failed")
        # One reading per filesystem: two differ by whatever was written between them, and the tie would be lost.
        shared = {}
        for volume, space in spaces.items():
            shared.setdefault(volume.device, space)
        return max(spaces, key=lambda v: (self._free(v, shared[v.device]), -v.used))

    def new_incoming_path(self):
        """A fresh file name in ``incoming/`` of the volume a new block goes to (a copy from a peer)."""
        return os.path.join(self._volume_for_new().incoming, uuid.uuid4().hex)

    def new_sink(self):
        return BlockSink(self, self._volume_for_new())

    def commit_sync(self, sink):
        """Make a received block durable under its content id; returns (id, length)."""
        sink.finish_sync()
        block_id = sink.block_id()
        if self.confirm(block_id):
            sink.close()
        else:
            self._install([(sink.path, block_id, sink.length, sink.chunk_sums())])
            sink.committed = True
        return block_id, sink.length

    def commit_many_sync(self, source, lengths):
        """Make the blocks cut by ``lengths`` from the file object ``source`` (all of it) durable under their
        content ids: [(id, length)]. Each is written to ``incoming/`` and synced, then all are installed with one
        sync per directory, so a batch costs one round of syncs rather than one per block."""
        stored, fresh = [], []
        incoming = self._volume_for_new().incoming
        try:
            for length in lengths:
                data = source.read(length)
                if len(data) != length:
                    raise BadRequest(f"the batch ended {length - len(data)} bytes short of its lengths")
                block_id = hashlib.sha256(data).hexdigest()
                stored.append((block_id, length))
                if self.confirm(block_id):
                    continue
                tmp = os.path.join(incoming, uuid.uuid4().hex)
                fresh.append((tmp, block_id, length, chunks.sums_of(data)))
                _write_synced(tmp, data)
            if source.read(1):
                raise BadRequest("the batch is longer than its lengths")
            self._install(fresh)
        except BaseException:
            for tmp, *_ in fresh:
                if os.path.exists(tmp):
                    os.unlink(tmp)
            raise
        return stored

    def confirm(self, block_id):
        """Whether the block is here already; if so, it counts as stored now (a delete issued before spares it)."""
        with self._ids_lock:
            if block_id in self._volume_of and os.path.exists(self.path(block_id)):
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
        """Put synced block files (each in the ``incoming/`` of a volume) in place on that volume with their chunk
        checksums, [(file, id, length, sums)], count them, and sync each directory once. The checksums land first,
        so a block on disk always has its own (but one ``checked_by_id``, which needs none). A block another volume
        holds meanwhile stays there alone."""
        for tmp, _, length, sums in blocks:
            if not checked_by_id(length):
                _write_synced(f"{tmp}{SUMS_SUFFIX}", chunks.encode(sums))
        folders = set()
        with self._ids_lock:
            for tmp, block_id, length, _ in blocks:
                volume = self._volume_with_incoming(os.path.dirname(tmp))
                held = self._volume_of.get(block_id)
                if held is not None and held is not volume:
                    _remove(tmp)
                    _remove(f"{tmp}{SUMS_SUFFIX}")
                    self._stored(block_id)
                    continue
                final = volume.path(block_id)
                os.makedirs(os.path.dirname(final), exist_ok=True)
                if not checked_by_id(length):
                    os.replace(f"{tmp}{SUMS_SUFFIX}", final + SUMS_SUFFIX)
                os.replace(tmp, final)
                folders.add(os.path.dirname(final))
                if held is None:
                    self._volume_of[block_id] = volume
                    volume.used += length
                    for tell in self.on_new_block:
                        tell(block_id)
                self._stored(block_id)
        for folder in folders:
            fsync_dir(folder)

    def _volume_with_incoming(self, folder):
        return next(v for v in self.volumes if v.incoming == os.path.abspath(folder))

    def store_verified_sync(self, block_id, tmp_path):
        """Install a block copied from a peer after checking that its bytes hash to its id."""
        with open(tmp_path, "rb") as f:
            digest, sums, length = _hash_file(f)
            os.fsync(f.fileno())
        if digest != block_id:
            os.unlink(tmp_path)
            raise Corrupt(f"copy of block {block_id} from the peer does not match its id")
        self._install([(tmp_path, block_id, length, sums)])
        return length

    def delete_sync(self, block_id, unless_stored_after=None, epoch=None):
        """Delete a block; with a mark, only if it was not stored or confirmed since that mark; with an ``epoch``,
        only if no DELETE of a later one came before (a former leader that woke up acts on nothing)."""
        self._check_epoch(epoch, f"block {block_id}")
        with self._ids_lock:
            if unless_stored_after is not None and self._stored_since(block_id, unless_stored_after):
                raise Conflict(f"block {block_id} was stored since mark {unless_stored_after}: kept")
            length = self._unlink(block_id)
        if length is None:
            raise FileNotFound(f"block {block_id} is not on this datanode")
        return length

    def delete_many_sync(self, block_ids, unless_stored_after, epoch=None):
        """``delete_sync`` of many blocks under one mark and epoch: {"deleted": bytes freed, "kept": ids stored
        since the mark, "missing": ids not here}. The epoch is judged once, for all; the mark, block by block."""
        self._check_epoch(epoch, f"{len(block_ids)} blocks")
        freed, kept, missing = 0, [], []
        for block_id in block_ids:
            with self._ids_lock:  # per block, so stores wait for one unlink at most, not a whole batch
                if self._stored_since(block_id, unless_stored_after):
                    kept.append(block_id)
                    continue
                length = self._unlink(block_id)
            if length is None:
                missing.append(block_id)
            else:
                freed += length
        return {"deleted": freed, "kept": kept, "missing": missing}

    def _check_epoch(self, epoch, what):
        """Refuse a delete of an ``epoch`` older than one seen before; remember a newer one on disk first."""
        if epoch is None:
            return
        with self._ids_lock:
            if epoch < self.epoch:
                raise NotLeader(f"{what} kept: a DELETE of epoch {self.epoch} came before this one of epoch {epoch}")
            if epoch > self.epoch:  # on disk before anything is deleted under it: a new leader is rare
                for volume in self.in_use():
                    write_json_atomically(os.path.join(volume.root, EPOCH_FILE), {"epoch": epoch})
                self.epoch = epoch

    def _unlink(self, block_id):
        """Remove a block and its checksums (under the ids lock): its length, or None when it was not here."""
        try:
            path = self.path(block_id)
            length = os.path.getsize(path)
            os.unlink(path)
        except FileNotFoundError:
            self._forget(block_id, 0)  # vanished: the namenode hears of it with the next heartbeat
            return None
        self._forget(block_id, length)
        _remove(self.sums_path(block_id))  # also that of a small block an older release stored with one
        return length

    def wipe_sync(self):
        with self._ids_lock:
            for volume in self.in_use():
                shutil.rmtree(volume.blocks_dir, ignore_errors=True)
                os.makedirs(volume.blocks_dir, exist_ok=True)
                volume.used = 0
            self._volume_of = {}
            self._sums.clear()

    def read_verified_sync(self, block_id, start, count):
        """Bytes [start, start+count) of a local block, once every chunk they touch matches its checksum.

        A mismatch (or a file too short for the range) may be a rotten checksum file or a bad request rather than
        rotten data: the whole block is then checked against its id (``verify_sync``), which rewrites the
        checksums of a good block and quarantines a bad one (Corrupt). A block that is not here raises FileNotFound.
        """
        data = self.read_checked_sync(block_id, start, count)
        if data is not None:
            return data
        verdict = self.verify_sync(block_id)  # rotten data, a rotten or missing checksum file, or a short read
        if verdict is None:
            raise FileNotFound(f"block {block_id} is not on this datanode")
        if not verdict:
            raise Corrupt(f"block {block_id} failed its chunk checksums on this datanode")
        data = self.read_checked_sync(block_id, start, count)
        if data is not None:
            return data
        raise BadRequest(f"block {block_id} has fewer than {start + count} bytes")

    def read_checked_sync(self, block_id, start, count, cached_only=False):
        """Bytes [start, start+count) of a local block when every chunk they touch matches its stored checksum (a
        block ``checked_by_id``: its id), else None. It never hashes more than one chunk, so small reads may run it
        on the reactor; with ``cached_only`` it never waits for the disk either: BlockingIOError when the chunks
        are not all in the page cache."""
        data, begin, first, size = self._read_chunks(block_id, start, count, cached_only)
        if len(data) < start + count - begin or not self._intact(block_id, data, first, size):
            return None
        if begin == start and len(data) == count:
            return data
        return data[start - begin:start - begin + count]

    def _read_chunks(self, block_id, start, count, cached_only=False):
        """The chunk-aligned bytes covering [start, start+count) of a local block (all of one ``checked_by_id``),
        their offset, the first chunk's index and the block's size."""
        try:
            with open(self.path(block_id), "rb") as f:
                size = os.fstat(f.fileno()).st_size
                begin, end, first = (0, size, 0) if checked_by_id(size) else chunks.aligned(start, count, size)
                read = _pread_cached if cached_only else os.pread
                return read(f.fileno(), max(0, end - begin), begin), begin, first, size
        except FileNotFoundError:
            raise FileNotFound(f"block {block_id} is not on this datanode") from None

    def _intact(self, block_id, data, first, size):
        """Whether chunk-aligned ``data`` from chunk ``first`` of a block of ``size`` bytes matches what the block
        was stored with: one ``checked_by_id`` (``data`` is all of it) its id, any other its checksum file."""
        if checked_by_id(size):
            return hashlib.sha256(data).hexdigest() == block_id
        sums = self._sums.get(block_id)
        if sums is None:
            try:
                sums = chunks.decode(_read(self.sums_path(block_id)))
            except (FileNotFoundError, ValueError):  # an older datanode's block, or a damaged checksum file
                return False
            self._sums.put(block_id, sums)
        return chunks.first_bad(data, first, sums) is None

    def chunk_sums_sync(self, block_id):
        """The block's checksum file as stored (``chunks.encode``'s form), made first for an older block; for a
        block ``checked_by_id``, made from its bytes once they match the id."""
        size = self.size_of(block_id)
        if checked_by_id(size):
            return chunks.encode(chunks.sums_of(self.read_verified_sync(block_id, 0, size)))
        for _ in range(2):
            try:
                data = _read(self.sums_path(block_id))
                chunks.decode(data)
                return data
            except (FileNotFoundError, ValueError):
                if not self.verify_sync(block_id):
                    raise FileNotFound(f"block {block_id} is not on this datanode") from None
        raise Corrupt(f"block {block_id} has no usable chunk checksums")

    def verify_sync(self, block_id):
        """Hash the whole block and compare it with its id; a bad copy is quarantined, a vanished one forgotten.

        Returns True; False when the copy was bad (the caller reports it); None when it vanished (deleted meanwhile,
        by GC or by hand): not corrupt, just gone, as the next block report says. A good block gets its chunk
        checksums (re)written when they are missing (an older datanode's block) or do not match, but one
        ``checked_by_id``, which needs none.
        """
        path = self.path(block_id)
        try:
            with open(path, "rb") as f:
                digest, sums, length = _hash_file(f)
        except FileNotFoundError:
            self._forget(block_id, 0)
            return None
        if digest == block_id:
            if checked_by_id(length):
                return True
            stored = chunks.encode(sums)
            try:
                current = _read(self.sums_path(block_id))
            except FileNotFoundError:
                current = None
            if current != stored:
                write_atomically(self.sums_path(block_id), stored)
            # Dropped once the file is right (not before the hashing, during which a read could keep a rotten one).
            self._sums.drop(block_id)
            return True
        volume = self._volume_of.get(block_id) or self._any_volume()
        try:
            os.replace(path, os.path.join(volume.quarantine, block_id))
        except FileNotFoundError:  # another check (a read, the scrubber) quarantined it meanwhile
            return False
        _remove(self.sums_path(block_id))
        self._forget(block_id, length)
        log.warn("block {block} failed verification and was quarantined", block=block_id)
        return False

    def _forget(self, block_id, length):
        self._sums.drop(block_id)
        with self._ids_lock:
            volume = self._volume_of.pop(block_id, None)
            if volume is not None:
                volume.used -= length
                for tell in self.on_gone_block:
                    tell(block_id)


class _Kept:
    """At most ``size`` entries, the least recently used dropped first; safe to use from several threads."""

    def __init__(self, size):
        self._size = size
        self._entries = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def put(self, key, value):
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            if len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def drop(self, key):
        with self._lock:
            self._entries.pop(key, None)

    def clear(self):
        with self._lock:
            self._entries.clear()


def _upgrade_layout(volume):
    """Bring a prepared data directory to the current layout (dfs.datanode.layout) and record it there."""
    if volume.layout != layout.CURRENT:
        layout.upgrade(volume.root, volume.layout)
        write_json_atomically(os.path.join(volume.root, layout.FILE), {"layout": layout.CURRENT})


def _hash_file(f):
    """(SHA-256 hex, chunk checksums, length) of an open file's bytes."""
    hasher, summer, length = hashlib.sha256(), chunks.Summer(), 0
    while data := f.read(1 << 20):
        hasher.update(data)
        summer.update(data)
        length += len(data)
    return hasher.hexdigest(), summer.result(), length


def _listing(folder):
    """The names in ``folder``; none when it cannot be read (a failed disk: the next check of the volumes says)."""
    try:
        return os.listdir(folder)
    except OSError:
        return []


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def _pread_cached(fd, count, offset):
    """``count`` bytes at ``offset`` copied from the page cache only (preadv2's RWF_NOWAIT): BlockingIOError when
    any of them would have to come from the disk. Where the flag is unknown, a plain read."""
    buffer = bytearray(count)
    try:
        got = os.preadv(fd, [buffer], offset, os.RWF_NOWAIT)
    except OSError as e:
        if e.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
            raise
        return os.pread(fd, count, offset)
    if got < count:  # the cache holds the start only, or the file is short: either way, a disk thread's job
        raise BlockingIOError(errno.EAGAIN, "not all in the page cache")
    return bytes(buffer)


def _remove(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
