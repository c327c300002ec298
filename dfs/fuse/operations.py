"""The FUSE operations: each one blocking calls into the dfs client, with domain errors mapped to errno values."""

import errno
import grp
import itertools
import os
import pwd
import stat
import contextlib
import contextvars
import threading
import time
from collections import OrderedDict, deque
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import NamedTuple

from twisted.logger import Logger

from dfs import filebatch, paths
from dfs.client.acting import acting_for, acting_now
from dfs.errors import (
    AccessDenied,
    AlreadyExists,
    BadRequest,
    Corrupt,
    DFSError,
    DirectoryNotEmpty,
    FileNotFound,
    FileTooLarge,
    IsADirectory,
    NameTooLong,
    NoSpace,
    NotADirectory,
    QuotaExceeded,
    SnapshotAccessControlException,
    Unauthorized,
    Unsupported,
)
from dfs.fuse.caches import SEGMENT, AttributeCache, BlockCache
from dfs.fuse.callers import identity, local_name
from dfs.fuse.files import (
    FALLOC_FL_KEEP_SIZE,
    FALLOC_FL_PUNCH_HOLE,
    FALLOC_FL_ZERO_RANGE,
    OpenFile,
    StagingFiles,
    ns_to_ms,
)
from dfs.limits import MAX_FILE_SIZE

log = Logger()

# Most specific first: the IOFailure family shares one HTTP status and differs only by class.
ERRNO = [
    (FileNotFound, errno.ENOENT),
    (NotADirectory, errno.ENOTDIR),
    (IsADirectory, errno.EISDIR),
    (DirectoryNotEmpty, errno.ENOTEMPTY),
    (AlreadyExists, errno.EEXIST),
    (SnapshotAccessControlException, errno.EROFS),
    (AccessDenied, errno.EACCES),
    (Unauthorized, errno.EACCES),
    (NoSpace, errno.ENOSPC),
    (QuotaExceeded, errno.EDQUOT),
    (FileTooLarge, errno.EFBIG),
    (Unsupported, errno.ENOTSUP),
    (NameTooLong, errno.ENAMETOOLONG),
    (BadRequest, errno.EINVAL),
]

# The operations that change what they name (the first argument; rename's second too): under a snapshot, which is
# read-only, they fail with EROFS before any work (a new file would otherwise fail only at its upload, on close).
CHANGES = frozenset({"chmod", "chown", "utimens", "mkdir", "rmdir", "unlink", "rename", "symlink", "link", "mknod",
                     "setxattr", "removexattr", "create", "truncate"})
# How HDFS words a denied access (dfs.namenode.permissions); its other denials are about ownership.
ACCESS_DENIAL = "Permission denied: "

IO_SIZE = 128 * 1024
# The file type bits of st_mode for each kind of inode (a special file's kind is in its status's "special").
FILE_TYPES = {"DIRECTORY": stat.S_IFDIR, "SYMLINK": stat.S_IFLNK, "FIFO": stat.S_IFIFO, "SOCKET": stat.S_IFSOCK,
              "CHAR_DEVICE": stat.S_IFCHR, "BLOCK_DEVICE": stat.S_IFBLK}
SPECIAL_KINDS = {bits: kind for kind, bits in FILE_TYPES.items() if kind not in ("DIRECTORY", "SYMLINK")}
# Every mode bit goes to the cluster, setuid and setgid too (kept as metadata: the mount is nosuid). The kernel
# clears them as POSIX says (after a write by a caller without CAP_FSETID, on chown) with a chmod sent here.
MODE_BITS = 0o7777
STATFS_UNIT = 4096
STATFS_TTL = 2.0
# Read-ahead: a handle's window opens at READ_AHEAD_FIRST with a sequential read (the first read at offset 0 is one)
# and doubles with each further one up to READ_AHEAD_MAX; a read elsewhere closes it, so random reads fetch only
# their own chunks. A read counts as sequential within SEQUENTIAL_SLACK of where the last one ended: libfuse's
# threads may take the kernel's requests a little out of order.
READ_AHEAD_FIRST = IO_SIZE
READ_AHEAD_MAX = 4 * SEGMENT
SEQUENTIAL_SLACK = IO_SIZE
# st_ino is the cluster's fileId (-o use_ino); a file created here has none before its first upload, so it shows
# a number from LOCAL_INOS on, in this mount, from then on (see ``_keep_local_ino``).
LOCAL_INOS = 1 << 48
LOCAL_INOS_KEPT = 1 << 18
# The extended attributes the mount passes to the cluster. The kernel asks for security.capability before every
# write to a file; that and every other namespace are answered here, with no round trip.
USER_XATTRS = "user."
XATTR_CREATE, XATTR_REPLACE = 1, 2  # setxattr(2)'s flags
# The name an unlinked file that is still open takes (libfuse 2's; see ``_hide``).
HIDDEN_PREFIX = ".fuse_hidden"
# Once libfuse is told to exit, calls that wait on the cluster give up; uploads of what is still dirty at
# unmount get this many seconds (SIGTERM must unmount within 10 s, even with the namenode frozen).
UNMOUNT_GRACE = 5.0
UNMOUNTING = "the mount is being unmounted"
# -o writeback: files closed and waiting for their upload (a close waits for room beyond that: in flush, which
# the kernel waits for, unlike release), and how many requests upload them at once. Few, so that files closed
# meanwhile pile up and leave together: small ones of one caller in one CREATEBATCH (dfs.filebatch). Not more: a
# batch holds its files' locks while it uploads, so a program opening or renaming one of them waits for all of them
# (a queue of 256 made git clone 1.7 times slower: bench/RESULTS.md, issue 24, session 10).
WRITEBACK_PENDING = 64
WRITEBACK_THREADS = 2


def errno_for(error, op=None):
    """The errno a program should see for a DFSError raised by FUSE operation ``op``; EIO for unavailability,
    corruption and anything unknown. A refused chmod or chown is EPERM (POSIX: not the owner, not privileged), unless
    the namenode refused an access on the way (HDFS's "Permission denied: user=..., access=..." text): EACCES."""
    if op in ("chmod", "chown") and isinstance(error, AccessDenied) and not error.message.startswith(ACCESS_DENIAL):
        return errno.EPERM
    for cls, code in ERRNO:
        if isinstance(error, cls):
            return code
    return errno.EIO


def _fail(code):
    return OSError(code, os.strerror(code))


def _check_growth(end):
    """EFBIG when a file written or truncated up to ``end`` would be larger than the largest file. Growing stores no
    zeros (a hole), so any size up to that is a metadata change."""
    if end > MAX_FILE_SIZE:
        raise _fail(errno.EFBIG)


def _check_new_name(path):
    """Refuse at once a name the cluster would refuse (ENAMETOOLONG for a long one), not at the upload on close."""
    paths.normalize(path)


@lru_cache(maxsize=4096)
def _local_id(name, by_name, default):
    """The local uid or gid (``by_name`` is pwd.getpwnam or grp.getgrnam) of a dfs owner or group name; a name
    that is a number stands for itself, an unknown one for the mounting user's."""
    if name.isdigit():
        return int(name)
    try:
        return by_name(name)[2]
    except KeyError:
        return default


class _Handle:
    """One open file description: which file, whether it writes and appends, and its read-ahead: where the last
    read ended, the window, and how far read-ahead was asked for."""

    __slots__ = ("file", "writable", "append", "closed", "next_read", "window", "ahead_to")

    def __init__(self, file, writable, append):
        self.file = file
        self.writable = writable
        self.append = append
        # Closed by its process (flushed, and not written since): the kernel sends the release later, on its own.
        self.closed = False
        self.next_read = self.window = self.ahead_to = 0

    def read_ahead(self, offset, end):
        """The file bytes [start, stop) to fetch ahead after a read of [offset, end), or None. The window's end is
        topped up a unit at a time (half the window, a segment at most), so a sequential reader asks for one
        whole segment at a time and has several on their way. Threads of one handle may race here: that only
        moves the guess."""
        sequential = abs(offset - self.next_read) <= SEQUENTIAL_SLACK
        self.next_read = end
        if not sequential:
            self.window, self.ahead_to = 0, end
            return None
        self.window = min(max(2 * self.window, READ_AHEAD_FIRST), READ_AHEAD_MAX)
        unit = min(self.window // 2, SEGMENT)
        stop = (end + self.window) // unit * unit
        if stop <= self.ahead_to:
            return None
        start, self.ahead_to = max(self.ahead_to, end), stop
        return start, self.ahead_to


class _Closed(NamedTuple):
    """-o writeback: a file closed and waiting for a worker to upload it."""

    file: OpenFile
    size: int  # as it was closed (the upload sends what it is then)
    caller: object  # whom its upload acts for (dfs.client.acting)
    context: contextvars.Context


class DFSOperations:
    """The mount's operations, by path, over a ``dfs.client.BlockingClient``; ``dfs.fuse.lowlevel`` calls them with
    the paths of the kernel's inodes (handles travel in ``fi.fh``).

    Files are shared per path (``OpenFile``) so every handle in this mount sees the others' writes at once; the
    cluster sees them on flush, fsync and release (close-to-open consistency).
    """

    def __init__(self, client, workdir, ttl=1.0, cache_bytes=1 << 30, on_ready=None, session=None, context=None,
                 writeback=False):
        self.client = client
        # () -> (uid, gid, pid) of the request being served: each request acts for its caller (dfs.fuse.callers);
        # None: every request acts as the mount's own user.
        self._context = context
        self._session = session  # a dfs.fuse.lowlevel.Session: whether libfuse was told to exit
        self._unmounting_since = None
        self.cache = AttributeCache(ttl)
        self._staging = StagingFiles(os.path.join(workdir, "staged"))
        blocks = os.path.join(workdir, "blocks")
        os.makedirs(self._staging.directory, exist_ok=True)
        os.makedirs(blocks, exist_ok=True)
        self.blocks = BlockCache(client, blocks, cache_bytes)
        self._readahead = ThreadPoolExecutor(2, thread_name_prefix="dfs-readahead")
        # -o writeback: uploads after close (see ``_write_back_later``); None: close waits for the upload.
        self._writeback = ThreadPoolExecutor(WRITEBACK_THREADS, thread_name_prefix="dfs-writeback") if writeback else None
        self._pending = 0  # files waiting for their upload after close
        self._ready = deque()  # the _Closed files no worker took yet
        self._room = threading.Condition()
        self._files = {}
        self._hidden = set()
        self._handles = {}
        self._ids = itertools.count(1)
        self._local_inos = itertools.count(LOCAL_INOS)
        self._created_inos = OrderedDict()  # fileId -> the number a file created here showed first
        # Its own lock, not ``_table``: a write-back worker holding several files' locks records their numbers, and
        # a rename holds ``_table`` while it takes files' locks.
        self._created_inos_lock = threading.Lock()
        self._table = threading.Lock()
        self._statfs = (0.0, None)
        self._on_ready = on_ready
        self._uid, self._gid = os.getuid(), os.getgid()

    def __call__(self, op, *args):
        caller = None if self._context is None else identity(*self._context())
        try:
            if op in CHANGES and any(paths.in_snapshot(path) for path in args[:2 if op == "rename" else 1]):
                raise _fail(errno.EROFS)
            with acting_for(caller):
                return getattr(self, op)(*args)
        except DFSError as e:
            code = errno_for(e, op)
            if code == errno.EIO:
                log.warn("{op} {path}: {error}", op=op, path=args[0] if args else "", error=e.message)
            raise OSError(code, e.message) from None
        except OSError:
            raise
        except Exception:
            log.failure("{op} {args!r} failed", op=op, args=args)
            raise _fail(errno.EIO) from None

    # -- lifecycle ---------------------------------------------------------------------------------

    def init(self, path):
        if self._on_ready is not None:
            self._on_ready()

    def destroy(self, path):
        """Unmounting: upload what is still dirty (a file written through mmap and never closed) within
        UNMOUNT_GRACE, end read-ahead."""
        self._unmounting_since = time.monotonic()
        if self._writeback is not None:
            # The uploads after close, all of them while they progress; give_up ends them after UNMOUNT_GRACE
            # without one done (a frozen namenode).
            self._writeback.shutdown(wait=True)
        with self._table:
            files = list(self._files.values())
        for of in files:
            with of.lock:
                if of.needs_upload:
                    try:
                        self._upload(of)
                    except Exception:
                        log.failure("could not upload {path} while unmounting", path=of.path)
        # A fetch still running would write into the cache directory while it is being removed.
        self._readahead.shutdown(wait=True, cancel_futures=True)
        self._staging.close()

    def give_up(self):
        """Why a call waiting on the cluster should stop (the client asks while it waits), or None: libfuse was
        told to exit and waits for operations in progress before it unmounts."""
        if self._unmounting_since is not None:
            return UNMOUNTING if time.monotonic() - self._unmounting_since > UNMOUNT_GRACE else None
        return UNMOUNTING if self._session is not None and self._session.exiting() else None

    # -- attributes --------------------------------------------------------------------------------

    def getattr(self, path, fi=None):
        of = self._file_of(path, fi)
        if of is None:
            if len(os.fsencode(paths.basename(path))) > paths.MAX_NAME_BYTES:
                raise _fail(errno.ENAMETOOLONG)  # a lookup of a name no file can have (pjdfstest's 02.t files)
            return self._attrs(self._status(path))
        uploading = of.attrs_while_uploading
        if uploading is not None:  # a write-back upload holds the lock (see ``_write_back``)
            return dict(uploading)
        with of.lock:
            return self._attrs_of_open(of)

    def _attrs_of_open(self, of):
        """Attributes of a file open here (caller holds ``of.lock``)."""
        if of.unlinked or of.is_staged and of.dirty:
            attrs = self._open_file_attrs(of)
        else:
            attrs = self._attrs(self._status(of.path))
        if of.ino is not None:
            attrs["st_ino"] = of.ino
        return attrs

    def _status(self, path):
        status = self.cache.status(path)
        if status is not None:
            return status
        if self.cache.known_absent(path) or self._absent_after_relisting(path):
            raise _fail(errno.ENOENT)
        status = self.cache.status(path)  # from a listing just fetched, which holds the name after all
        if status is not None:
            return status
        generation = self.cache.generation()
        status = self.client.stat(path)
        self.cache.store(path, status, generation)
        return status

    def _absent_after_relisting(self, path):
        """List the parent again when that is worth it (see caches.RELIST_MAX); whether ``path`` is not in it."""
        parent = paths.parent(path)
        if path == "/" or not self.cache.worth_relisting(path):
            return False
        generation = self.cache.generation()
        statuses = self.client.ls(parent)
        if any(s["type"] != "DIRECTORY" and not s["pathSuffix"] for s in statuses):
            return False  # the parent is now a file: let the lookup itself say so
        self.cache.store_listing(parent, statuses, generation)
        return self.cache.known_absent(path)

    def _attrs(self, status):
        kind = status.get("special", status["type"])
        mtime = status["modificationTime"] * 1_000_000
        size = status["length"]
        if kind == "SYMLINK":  # POSIX: a symlink's size is its target's length in bytes
            size = len(os.fsencode(status["symlink"]))
        return {
            "st_mode": FILE_TYPES.get(kind, stat.S_IFREG) | int(status["permission"], 8),
            "st_ino": self._created_inos.get(status["fileId"], status["fileId"]),
            "st_nlink": status.get("nlink", 1),
            "st_rdev": status.get("rdev", 0),
            "st_size": size,
            "st_blocks": (size - status.get("holes", 0) + 511) // 512 if kind == "FILE" else 0,
            "st_blksize": IO_SIZE,
            "st_uid": _local_id(status["owner"], pwd.getpwnam, self._uid),
            "st_gid": _local_id(status["group"], grp.getgrnam, self._gid),
            "st_mtime": mtime,
            "st_ctime": status.get("changeTime", 0) * 1_000_000 or mtime,
            "st_atime": status["accessTime"] * 1_000_000 or mtime,
        }

    def _open_file_attrs(self, of):
        """Attributes of an open file the cluster cannot describe (unsent writes, or unlinked): size and times of
        the local copy, or as last seen, and times set since; the rest as last seen."""
        atime, mtime = of.times or (None, None)
        if of.is_staged:  # the local copy is sparse where the file is: its blocks are what the file stores
            local = of.local_stat()
            size, blocks, mtime = local.st_size, local.st_blocks, local.st_mtime_ns if mtime is None else mtime
        else:
            size = of.length
            blocks = (size + 511) // 512
        uid, gid = of.ids or (self._uid, self._gid)
        attrs = self._attrs(of.status) if of.status is not None else {
            "st_nlink": 1, "st_blksize": IO_SIZE, "st_uid": uid, "st_gid": gid, "st_mtime": 0,
        }
        mtime = attrs["st_mtime"] if mtime is None else mtime
        attrs.update(st_mode=stat.S_IFREG | of.mode, st_size=size, st_blocks=blocks, st_mtime=mtime,
                     st_ctime=mtime, st_atime=attrs.get("st_atime", mtime) if atime is None else atime)
        if of.unlinked:
            attrs["st_nlink"] = 0
        return attrs

    def access(self, path, amode):
        mode = self.getattr(path)["st_mode"]
        if amode & os.X_OK and not stat.S_ISDIR(mode) and not mode & 0o111:
            raise _fail(errno.EACCES)
        return 0

    def chmod(self, path, mode):
        mode &= MODE_BITS
        of = self._open_file(path)
        if of is not None:
            with of.lock:
                of.mode = mode
                if of.new or of.unlinked:
                    return 0
        self.client.chmod(path, mode)
        self.cache.changed(path)
        return 0

    def chown(self, path, uid, gid):
        """Owners are names in dfs: a local uid or gid is stored as its name (or its number when it has none)."""
        current = self.getattr(path)
        owner = None if uid in (-1, current["st_uid"]) else local_name(uid, pwd.getpwuid)
        group = None if gid in (-1, current["st_gid"]) else local_name(gid, grp.getgrgid)
        if owner is None and group is None:
            return 0
        of = self._open_file(path)
        if of is not None:
            with of.lock:
                if of.unlinked:
                    return 0
                if of.needs_upload:
                    self._upload(of)
                if of.status is not None:
                    of.status = dict(of.status, owner=owner or of.status["owner"], group=group or of.status["group"])
        self.client.chown(path, owner=owner, group=group)
        self.cache.changed(path)
        return 0

    def utimens(self, path, times=None):
        """``times`` is (atime, mtime) in nanoseconds, either None to leave it; None means both now."""
        atime, mtime = times or (time.time_ns(),) * 2
        of = self._open_file(path)
        if of is not None:
            with of.lock:
                if of.needs_upload or of.unlinked:
                    old = of.times or (None, None)
                    of.times = (old[0] if atime is None else atime, old[1] if mtime is None else mtime)
                    return 0
        if atime is None and mtime is None:
            return 0
        self.client.set_times(path, mtime=ns_to_ms(mtime), atime=ns_to_ms(atime))
        self.cache.changed(path)
        return 0

    def statfs(self, path):
        expires, totals = self._statfs
        if totals is None or expires < time.monotonic():
            totals = self.client.status()["totals"]
            self._statfs = (time.monotonic() + STATFS_TTL, totals)
        free = totals["free"] // STATFS_UNIT
        return {
            "f_bsize": IO_SIZE, "f_frsize": STATFS_UNIT, "f_blocks": totals["capacity"] // STATFS_UNIT,
            "f_bfree": free, "f_bavail": free, "f_files": 0, "f_ffree": 0, "f_favail": 0, "f_namemax": 255,
        }

    # -- directories -------------------------------------------------------------------------------

    def readdir(self, path, fh):
        """The names of ``path``: from its listing while the cache trusts it (``rm -rf`` reads a directory twice),
        else from the cluster. Acting for each caller, every listing asks as its caller (docs/permissions.md)."""
        names = self.cache.listing(path) if self._context is None else None
        if names is None:
            generation = self.cache.generation()
            statuses = self.client.ls(path)
            self.cache.store_listing(path, statuses, generation)
            names = [s["pathSuffix"] for s in statuses]
        known = set(names)
        names.extend(p for p in self._new_files_below(path, children_only=True) if p not in known)
        return [".", "..", *names]

    def mkdir(self, path, mode):
        _check_new_name(path)
        self.client.mkdir(path, permission=mode & MODE_BITS)
        self.cache.created(path)
        self.cache.store_listing(path, [], self.cache.generation())
        return 0

    def rmdir(self, path):
        if self._new_files_below(path):
            raise _fail(errno.ENOTEMPTY)
        self.client.rmdir(path)
        self.cache.deleted(path)
        return 0

    def fsyncdir(self, path, datasync, fh):
        """-o writeback: a directory's entries are durable once the files closed in it are on the cluster, so wait
        for their uploads still pending (doing them here if no worker took them yet) and report one the cluster
        refuses, as fsync of the file would. Files still open keep their unsent writes (close-to-open)."""
        if self._writeback is None:
            return 0
        prefix = path.rstrip("/") + "/"
        # Open for writing, not merely unreleased: close returns after the flush, and the release comes later.
        handles = list(self._handles.values())
        open_here = {id(handle.file) for handle in handles if handle.writable and not handle.closed}
        for of in self._open_below(path):
            if "/" not in of.path[len(prefix):] and id(of) not in open_here:
                with of.lock, acting_for(of.write_back_caller):  # as its worker would: for whoever closed it
                    if of.needs_upload:
                        self._upload(of)
        return 0

    # -- namespace ---------------------------------------------------------------------------------

    def unlink(self, path):
        with self._table:
            of = self._files.pop(path, None)
            hidden = path in self._hidden
            self._hidden.discard(path)
        if hidden:
            return 0
        on_cluster = True
        if of is not None:
            with of.lock:
                on_cluster = not of.new
                of.unlinked = True
                self._forget_failed_write_back(of)
        if on_cluster and not self.client.rm(path) and of is None:
            raise _fail(errno.ENOENT)
        self.cache.deleted(path)
        return 0

    def rename(self, old, new):
        """Atomic on the cluster, over an existing file or empty directory too. Files open here follow the move."""
        _check_new_name(new)
        if paths.basename(new).startswith(HIDDEN_PREFIX) and self._open_file(old) is not None:
            return self._hide(old, new)
        for of in self._open_below(old):
            with of.lock:
                if of.needs_upload:
                    self._upload(of)
        self.client.mv(old, new, overwrite=True)
        with self._table:
            replaced = [of for p, of in self._files.items() if paths.is_ancestor(new, p)]
            moved = [of for p, of in self._files.items() if paths.is_ancestor(old, p)]
            for of in replaced:
                del self._files[of.path]
                of.unlinked = True
            for of in moved:
                del self._files[of.path]
            for of in moved:
                with of.lock:
                    of.path = new + of.path[len(old):]
                self._files[of.path] = of
        self.cache.deleted(old, tree=True)
        self.cache.deleted(new, tree=True)
        self.cache.created(new)
        return 0

    def _hide(self, old, hidden):
        """The bridge unlinks an open file by renaming it to a hidden name, and unlinks that name after the last
        release, so that fstat and friends keep working. Here the file leaves the cluster now, as the program asked,
        and lives on in this mount only, under the hidden name, from its local copy or cached blocks."""
        with self._table:
            of = self._files.pop(old, None)
            on_cluster = True
            if of is not None:
                with of.lock:
                    on_cluster = not (of.new or of.unlinked)
                    of.unlinked = True
                    of.path = hidden
                self._files[hidden] = of
            self._hidden.add(hidden)
        if on_cluster:
            self.client.rm(old)
        self.cache.deleted(old)
        return 0

    def readlink(self, path):
        status = self._status(path)
        if status["type"] != "SYMLINK":
            raise _fail(errno.EINVAL)
        return status["symlink"]

    def symlink(self, target, source):
        """``target`` is the new link's path, ``source`` the text it holds (``ln -s source
        target``). The kernel follows it; nothing here or on the cluster resolves it."""
        _check_new_name(target)
        self.client.symlink(source, target, create_parent=False)
        self.cache.created(target)
        return 0

    def link(self, target, source):
        """A hard link ``target`` to the file ``source`` (``ln source target``); what was written to ``source``
        here goes to the cluster first, so both names show it."""
        _check_new_name(target)
        of = self._open_file(source)
        if of is not None:
            with of.lock:
                if of.needs_upload:
                    self._upload(of)
        try:
            self.client.link(source, target)
        except IsADirectory:
            raise _fail(errno.EPERM) from None  # link(2) on a directory
        self.cache.changed(source)
        self.cache.created(target)
        return 0

    def mknod(self, path, mode, dev):
        """A fifo, socket or device: metadata on the cluster, behaviour from the kernel. A regular file (mknod
        with S_IFREG) is an empty file."""
        _check_new_name(path)
        kind = SPECIAL_KINDS.get(stat.S_IFMT(mode))
        if kind is not None:
            self.client.mknod(path, kind, mode & MODE_BITS, dev)
        elif stat.S_IFMT(mode) in (0, stat.S_IFREG):
            self.client.write(path, b"", permission=mode & MODE_BITS, parents=False)
        else:
            raise _fail(errno.EINVAL)
        self.cache.created(path)
        return 0

    # -- extended attributes (user.* only, see USER_XATTRS) ---------------------------------------------

    def _user_xattrs(self, path):
        return {name: value for name, value in self.client.xattrs(path).items() if name.startswith(USER_XATTRS)}

    def getxattr(self, path, name, position=0):
        value = self._user_xattrs(path).get(name) if name.startswith(USER_XATTRS) else None
        if value is None:
            raise _fail(errno.ENODATA)
        return value

    def listxattr(self, path):
        return list(self._user_xattrs(path))

    def setxattr(self, path, name, value, options, position=0):
        if not name.startswith(USER_XATTRS):
            raise _fail(errno.ENOTSUP)
        if options & (XATTR_CREATE | XATTR_REPLACE):
            exists = name in self._user_xattrs(path)
            if options & XATTR_CREATE and exists:
                raise _fail(errno.EEXIST)
            if options & XATTR_REPLACE and not exists:
                raise _fail(errno.ENODATA)
        self.client.set_xattr(path, name, value)
        return 0

    def removexattr(self, path, name):
        if name not in (self._user_xattrs(path) if name.startswith(USER_XATTRS) else ()):
            raise _fail(errno.ENODATA)
        self.client.remove_xattr(path, name)
        return 0

    # -- files -------------------------------------------------------------------------------------

    def create(self, path, mode, fi):
        """A new file lives in a local copy until its first flush, which creates it on the cluster in one request."""
        _check_new_name(path)
        of = OpenFile(path, mode=mode & MODE_BITS, new=True, ino=next(self._local_inos))
        of.ids = self._creator_ids(path)
        of.stage(self.client, self._staging, download=False)
        with self._table:
            existing = self._files.get(path)
            if existing is None:
                self._files[path] = of
                of.handles = 1
        if existing is not None:
            with of.lock:
                of.close()
            return self.open(path, fi)
        fi.fh = self._new_handle(of, fi.flags)
        return 0

    def open(self, path, fi):
        flags = fi.flags
        writable = flags & os.O_ACCMODE != os.O_RDONLY
        if writable and paths.in_snapshot(path):
            raise _fail(errno.EROFS)
        with self._table:
            of = self._files.get(path)
            if of is None:
                of = self._files[path] = OpenFile(path)
            of.handles += 1
        try:
            with of.lock:
                # A file opened for writing is staged at its first write, not here: `truncate -s 256G` (open, then
                # ftruncate) is then a TRUNCATE on the cluster, with no local copy at all.
                if writable and flags & os.O_TRUNC:
                    self._stage(of, truncate=True)
                elif not of.is_staged and not of.unlinked and flags & os.O_ACCMODE != os.O_WRONLY:
                    # Only a handle that reads needs the blocks: locating them asks read access, which a
                    # write-only open of a file its caller may not read must not need.
                    of.set_locations(self.client.block_locations(path))
        except BaseException:
            self._drop(of)
            raise
        fi.fh = self._new_handle(of, flags)
        return 0

    def _stage(self, of, truncate=False):
        """Give ``of`` a local copy to write: the cluster's bytes unless truncating (caller holds ``of.lock``)."""
        if of.is_staged:
            if truncate:
                of.truncate(0)
            return
        status = self._status(of.path)
        if status["type"] == "DIRECTORY":
            raise _fail(errno.EISDIR)
        of.status, of.mode = status, int(status["permission"], 8) & MODE_BITS
        of.stage(self.client, self._staging, download=not truncate and status["length"] > 0)
        if truncate:
            of.dirty = True

    def read(self, path, size, offset, fi):
        handle = self._handles[fi.fh]
        of = handle.file
        with of.lock:
            if of.is_staged:
                return of.read(size, offset)
        try:
            data = self._read_located(of, size, offset)
        except Corrupt:
            # No replica serves a block located at open: the file was replaced and its old blocks collected since.
            # Read it as it is now (a read is never a mix of two versions).
            of.set_locations(self.client.block_locations(of.path))
            data = self._read_located(of, size, offset)
        ahead = handle.read_ahead(offset, offset + len(data))
        if ahead is not None:
            start, stop = ahead
            for location, block_start, count, _ in of.pieces(start, stop - start):
                if location is not None:
                    self._readahead.submit(self._prefetch, location, block_start, count)
        return data

    def _read_located(self, of, size, offset):
        """Bytes of the file as located, from the block cache; a hole's zeros from here, not from a datanode."""
        pieces = list(of.pieces(offset, size))
        return b"".join(bytes(count) if loc is None else self.blocks.read(loc, start, count)
                        for loc, start, count, _ in pieces)

    def _prefetch(self, location, start, count):
        try:
            self.blocks.prefetch(location, start, count)
        except Exception as e:
            log.debug("read-ahead of block {block} failed: {error}", block=location["blockId"], error=e)

    def write(self, path, data, offset, fi):
        handle = self._handles[fi.fh]
        handle.closed = False
        of = handle.file
        with of.lock:
            if not of.is_staged:
                self._stage(of)
            if not handle.append:
                _check_growth(offset + len(data))
            return of.write(data, offset, handle.append)

    def truncate(self, path, length, fi=None):
        of = self._file_of(path, fi)
        if of is not None:
            with of.lock:
                if of.is_staged:
                    _check_growth(length)
                    of.truncate(length)
                    return 0
                path = of.path
        status = self.client.stat(path)
        if status["type"] == "DIRECTORY":
            raise _fail(errno.EISDIR)
        _check_growth(length)
        self.client.truncate(path, length)  # growing leaves a hole
        self.cache.changed(path)
        if of is not None:
            with of.lock:
                if not of.is_staged and of.located:
                    of.set_locations(self.client.block_locations(path))
        return 0

    def fallocate(self, path, mode, offset, length, fi):
        """Punching a hole (or zeroing a range) makes a hole; allocating only sets the size, since dfs reserves no
        space ahead (a write may still find the cluster full). Collapsing and inserting ranges: EOPNOTSUPP."""
        if mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE):
            raise _fail(errno.EOPNOTSUPP)
        of = self._handles[fi.fh].file
        with of.lock:
            if not of.is_staged:
                self._stage(of)
            if mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE):
                of.punch_hole(offset, length)
            if not mode & FALLOC_FL_KEEP_SIZE and offset + length > of.local_stat().st_size:
                _check_growth(offset + length)
                of.truncate(offset + length)
        return 0

    def flush(self, path, fi):
        # -o writeback: the upload follows the last close (release); fsync still waits for it, and so does a writer's
        # close of a file whose upload after an earlier close failed, which then reports why.
        handle = self._handles[fi.fh]
        handle.closed = True
        if self._writeback is not None and not (handle.writable and handle.file.write_back_failed):
            if handle.writable:  # the kernel sends the last release as root: the caller is the closer's, known here
                handle.file.write_back_caller = acting_now()
            with self._room:
                self._room.wait_for(lambda: self._pending < WRITEBACK_PENDING)
            return 0
        return self.fsync(path, 0, fi)

    def fsync(self, path, datasync, fi):
        of = self._handles[fi.fh].file
        with of.lock:
            if of.needs_upload:
                self._upload(of)
        return 0

    def release(self, path, fi):
        handle = self._handles.pop(fi.fh, None)
        if handle is None:
            return 0
        of = handle.file
        if self._writeback is not None and self._write_back_later(of):
            return 0
        try:
            with of.lock:
                if of.handles == 1 and of.needs_upload:
                    self._upload(of)
        except Exception:
            log.failure("writes to {path} were lost: the upload on release failed", path=of.path)
        finally:
            self._drop(of)
        return 0

    def _write_back_later(self, of):
        """-o writeback: queue the upload of a file whose last handle closes for a worker, acting for whoever closed it;
        its handle is kept until the upload is done, so this mount shows the local copy meanwhile. False when
        there is nothing to upload."""
        with of.lock:
            if not (of.handles == 1 and of.needs_upload) or self._unmounting_since is not None:
                return False
            size = of.local_stat().st_size
            if of.write_back_caller is None:  # written through mmap, never flushed
                of.write_back_caller = acting_now()
        with self._room:
            self._pending += 1
            self._ready.append(_Closed(of, size, of.write_back_caller, contextvars.copy_context()))
        self._writeback.submit(self._write_back_ready)
        return True

    def _write_back_ready(self):
        """Upload the files waiting in the queue: the first, with the small ones of the same caller queued after it
        (within filebatch's bounds) for one request. Nothing when earlier workers took them all."""
        with self._room:
            if not self._ready:
                return
            first = self._ready.popleft()
            files, total, left = [first.file], first.size, deque()
            while first.size <= filebatch.MAX_FILE and self._ready and len(files) < filebatch.MAX_FILES:
                closed = self._ready.popleft()
                if closed.size <= filebatch.MAX_FILE and closed.caller == first.caller and \
                        total + closed.size <= filebatch.MAX_BYTES:
                    files.append(closed.file)
                    total += closed.size
                else:
                    left.append(closed)
            self._ready.extendleft(reversed(left))
        first.context.run(self._write_back, files, first.caller)

    def _write_back(self, files, caller):
        """Upload ``files`` after their close: several in one request when they are small enough. A failed upload
        keeps its file here, dirty, with the handle ``_write_back_later`` kept: this mount still shows its bytes,
        and its next fsync or close (or the unmount) uploads it again and reports the error."""
        failed = {}
        try:
            with contextlib.ExitStack() as held:
                due = []
                try:
                    for of in files:
                        held.enter_context(of.lock)
                        if of.needs_upload:  # unless fsync, rename, link or unlink saw to it meanwhile
                            due.append(of)
                            # stat (git's of every file it wrote) need not wait for the upload: nothing can change
                            # the file while this holds its lock.
                            of.attrs_while_uploading = self._attrs_of_open(of)
                    with acting_for(caller):
                        failed = self._upload_all(due)
                finally:
                    for of in due:
                        of.attrs_while_uploading = None
                for of, error in failed.items():
                    of.write_back_failed = True
                    log.warn("the upload of {path} after close failed ({error}); its writes stay in this mount "
                             "until an fsync or close of it uploads them", path=of.path,
                             error=getattr(error, "message", repr(error)))
        finally:
            if self._unmounting_since is not None:
                self._unmounting_since = time.monotonic()  # progress: the grace counts from the last upload done
            with self._room:
                self._pending -= len(files)
                self._room.notify_all()
            for of in files:
                if of not in failed:
                    self._drop(of)

    def _upload_all(self, files):
        """Upload ``files`` (the caller holds their locks): the small ones in one request when there are several,
        the others one by one; {file: the error} of those that failed."""
        batch = [of for of in files if of.local_stat().st_size <= filebatch.MAX_FILE]
        batch = batch if 1 < len(batch) and sum(of.local_stat().st_size for of in batch) <= filebatch.MAX_BYTES else []
        failed = {}
        if batch:
            new = [of.new for of in batch]
            try:
                outcomes = self.client.create_files([of.upload_entry() for of in batch])
            except Exception as e:
                outcomes = [e] * len(batch)
            for of, was_new, outcome in zip(batch, new, outcomes):
                if isinstance(outcome, Exception):
                    failed[of] = outcome
                else:
                    of.uploaded()
                    self._uploaded(of, was_new, outcome)
        for of in files:
            if of not in batch:
                try:
                    self._upload(of)
                except Exception as e:
                    failed[of] = e
        return failed

    def _creator_ids(self, path):
        """(uid, gid) a file the caller creates at ``path`` will have on the cluster, shown (and checked by the
        kernel) before its first upload: the caller's, the group of a setgid parent's; None: the mount's user's."""
        if self._context is None:
            return None
        uid, gid, _ = self._context()
        if uid == 0:
            return None
        parent = self._attrs(self._status(paths.parent(path)))
        return uid, parent["st_gid"] if parent["st_mode"] & stat.S_ISGID else gid

    # -- the table of open files -------------------------------------------------------------------

    def _upload(self, of):
        """Upload ``of`` (caller holds ``of.lock``); the upload's answer describes the file, so a stat of it right
        after close asks nothing."""
        was_new = of.new
        self._uploaded(of, was_new, of.upload(self.client))

    def _uploaded(self, of, was_new, status):
        """``of`` was uploaded (caller holds ``of.lock``), and ``status`` (or None) describes it now."""
        if was_new:
            self.cache.created(of.path, status)
            self._keep_local_ino(of, None if status is None else status["fileId"])
        else:
            self.cache.changed(of.path, status)
        self._forget_failed_write_back(of)

    def _forget_failed_write_back(self, of):
        """Let go of the handle a failed write-back kept (``_write_back``), once the file is uploaded or unlinked."""
        if of.write_back_failed:
            of.write_back_failed = False
            self._drop(of)

    def _keep_local_ino(self, of, file_id):
        """A file created here keeps showing the inode number it had before it reached the cluster (the kernel
        may still hold that one for its attr_timeout, and SQLite takes a database whose number changes for a
        moved one): map its fileId (which the upload's answer names) to it, for the last LOCAL_INOS_KEPT files
        created."""
        if file_id is None:  # a namenode of an earlier release does not describe the new file: ask for it
            generation = self.cache.generation()
            try:
                status = self.client.stat(of.path)
            except FileNotFound:
                return
            self.cache.store(of.path, status, generation)
            file_id = status["fileId"]
        with self._created_inos_lock:
            self._created_inos[file_id] = of.ino
            if len(self._created_inos) > LOCAL_INOS_KEPT:
                self._created_inos.popitem(last=False)

    def _new_handle(self, of, flags):
        fh = next(self._ids)
        self._handles[fh] = _Handle(of, writable=flags & os.O_ACCMODE != os.O_RDONLY, append=bool(flags & os.O_APPEND))
        return fh

    def _drop(self, of):
        with self._table:
            of.handles -= 1
            if of.handles:
                return
            if self._files.get(of.path) is of:
                del self._files[of.path]
            with of.lock:
                of.close()

    def path_of(self, fh):
        """The path of the file open under handle ``fh``, None once it is closed or unlinked: the bridge opens and
        changes the other names of that file through this one."""
        handle = self._handles.get(fh)
        return None if handle is None or handle.file.unlinked else handle.file.path

    def _open_file(self, path):
        with self._table:
            return self._files.get(path)

    def _file_of(self, path, fi):
        if fi:
            handle = self._handles.get(fi.fh)
            if handle is not None:
                return handle.file
        return self._open_file(path) if path is not None else None

    def _open_below(self, path):
        with self._table:
            return [of for p, of in self._files.items() if paths.is_ancestor(path, p)]

    def _new_files_below(self, directory, children_only=False):
        """Names (children_only) or paths of files created here and not yet on the cluster, under ``directory``."""
        prefix = directory.rstrip("/") + "/"
        with self._table:
            found = [p for p, of in self._files.items() if of.new and not of.unlinked and p.startswith(prefix)]
        if children_only:
            return [p[len(prefix):] for p in found if "/" not in p[len(prefix):]]
        return found

