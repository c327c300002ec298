"""A file open in the mount: read from the cluster's verified blocks, or staged in a local copy while written."""

import bisect
import ctypes
import os
import tempfile
import threading
from typing import NamedTuple

from dfs import extents as file_extents

# fallocate(2)'s modes (linux/falloc.h); Python's os has posix_fallocate only.
FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, FALLOC_FL_ZERO_RANGE = 0x01, 0x02, 0x10
_fallocate = ctypes.CDLL(None, use_errno=True).fallocate
_fallocate.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64)
# The holes an upload keeps as holes, the longest ones: more would not fit its URL; the rest go as their zeros.
MAX_HOLES = 256
# Emptied local copies kept for the next files written (see StagingFiles), each an open descriptor: as many as the
# write-back queue may release at once (dfs.fuse.operations.WRITEBACK_PENDING).
SPARE_FILES = 64


class _Layout(NamedTuple):
    """Where a file's bytes are, as of one GETFILEBLOCKLOCATIONS answer."""

    locations: tuple
    starts: tuple
    length: int


class OpenFile:
    """One path open in this mount, shared by every handle on it, so all of them see one another's writes.

    Until someone opens it for writing, reads come from the cluster's blocks, located when the file was opened
    (close-to-open consistency). Opening for writing stages a local copy (downloaded first unless truncated);
    every handle then reads and writes that copy, and ``upload`` replaces the cluster's file with it.
    """

    def __init__(self, path, status=None, mode=0o644, new=False, ino=None):
        self.path = path
        self.ino = ino  # the inode number it shows while open, when not its fileId (a file created here)
        self.ids = None  # (uid, gid) a file created here shows until the cluster describes it (None: the mount's)
        self.lock = threading.RLock()
        self.handles = 0
        self.status = status
        self.mode = mode
        self.new = new
        self.dirty = new
        self.unlinked = False
        self.times = None
        self.staged = None
        self.fd = None
        self._staging = None  # the StagingFiles the local copy came from
        self._layout = _Layout((), (), 0)
        self.located = False  # whether a handle that reads located the blocks (write-only ones need not)
        # -o writeback (dfs.fuse.operations): its attributes while its upload after close holds ``lock``, whether
        # that upload failed (the file then stays here, dirty, until an upload of it succeeds), and whom it acts for.
        self.attrs_while_uploading = None
        self.write_back_failed = False
        self.write_back_caller = None  # whom its upload after close acts for (dfs.client.acting)

    # -- reading from the cluster ------------------------------------------------------------------

    def set_locations(self, answer):
        """Take a GETFILEBLOCKLOCATIONS answer for the whole file (replacing the last one in one step)."""
        locations = tuple(answer["BlockLocation"])
        length = answer.get("fileLength", sum(loc["length"] for loc in locations))
        self._layout = _Layout(locations, tuple(loc["offset"] for loc in locations), length)
        self.located = True

    @property
    def length(self):
        return self._layout.length

    def pieces(self, offset, size):
        """(location, offset in block, count, next location or None) for each block holding bytes of
        [offset, offset + size), all from one layout even if another open replaces it meanwhile; a hole (the gap
        between two locations, or after the last) is a piece without a location."""
        locations, starts, length = self._layout
        end = file_extents.clamp(offset, size, length)
        i = max(bisect.bisect_right(starts, offset) - 1, 0)
        while offset < end:
            loc = locations[i] if i < len(locations) else None
            if loc is None or loc["offset"] > offset:
                hole_end = end if loc is None else min(end, loc["offset"])
                yield None, 0, hole_end - offset, None
                offset = hole_end
                continue
            piece = file_extents.cut(loc["offset"], loc["length"], offset, end)
            if piece is not None:
                skipped, count = piece
                following = locations[i + 1] if i + 1 < len(locations) else None
                yield loc, loc["blockOffset"] + skipped, count, following
                offset = loc["offset"] + skipped + count
            i += 1

    # -- the local copy ----------------------------------------------------------------------------

    @property
    def is_staged(self):
        return self.fd is not None

    def stage(self, client, staging, download):
        """Make the local copy (from ``staging``, a StagingFiles): the cluster's current bytes with ``download``,
        else an empty file."""
        if not download:
            self.fd, self.staged = staging.take()
            self._staging = staging
            return
        fd, name = tempfile.mkstemp(dir=staging.directory, prefix="staged-")
        os.close(fd)
        try:
            client.download(self.path, name)  # to a new file, renamed over ``name``
            self.fd = os.open(name, os.O_RDWR)
        except BaseException:
            os.unlink(name)
            raise
        self.staged = name
        self._staging = staging

    def read(self, size, offset):
        return os.pread(self.fd, size, offset)

    def write(self, data, offset, append):
        if append:
            offset = os.fstat(self.fd).st_size
        written = os.pwrite(self.fd, data, offset)
        self._modified()
        return written

    def truncate(self, length):
        os.ftruncate(self.fd, length)
        self._modified()

    def punch_hole(self, offset, length):
        """Make bytes [offset, offset+length) of the local copy a hole (the file keeps its size)."""
        if _fallocate(self.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length) != 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code))
        self._modified()

    def _modified(self):
        self.dirty = True
        if self.times is not None:
            self.times = (self.times[0], None)

    def local_stat(self):
        return os.fstat(self.fd)

    # -- back to the cluster -----------------------------------------------------------------------

    @property
    def needs_upload(self):
        return self.dirty and not self.unlinked and self.fd is not None

    def upload(self, client):
        """Replace the cluster's file with the local copy (atomically: readers see the old or the new file), its
        holes as holes. Returns the file's FileStatus as the namenode's answer gives it (None when not known)."""
        request, stored = self._upload_request()
        status = client.upload(self.path, stored, length=stored.length, **request)
        self.uploaded()
        return status

    def upload_entry(self):
        """The upload as one file of a batch (``Client.create_files``), its stored bytes read (a small file)."""
        request, stored = self._upload_request()
        return dict(request, path=self.path, data=stored.read())

    def uploaded(self):
        """The cluster's file is the local copy now."""
        self.dirty = self.new = False
        self.times = None

    def _upload_request(self):
        """(the upload's parameters, its body). The mtime is the one set while it was dirty, else the local copy's
        (its last write, which stat showed until now, not the upload's commit a moment later); both go in the one
        request."""
        atime, mtime = self.times or (None, None)
        local = os.fstat(self.fd)
        size, mtime = local.st_size, local.st_mtime_ns if mtime is None else mtime
        holes = _holes(self.fd, size)
        request = dict(overwrite=True, permission=self.mode if self.new else None, mtime=ns_to_ms(mtime),
                       atime=ns_to_ms(atime), holes=holes)
        return request, _StoredBytes(self.fd, size, holes)

    def close(self):
        if self.fd is not None:
            self._staging.give(self.fd, self.staged)
            self.fd = self.staged = None


class StagingFiles:
    """The files of local copies, in ``directory``. An emptied one is kept (up to SPARE_FILES) for the next file
    written: making and removing a file for each small file written cost the local file system an inode allocation
    and release each time, the largest part of the mount's CPU per created file."""

    def __init__(self, directory):
        self.directory = directory
        self._lock = threading.Lock()
        self._spare = []  # (fd, name) of empty files

    def take(self):
        """(fd, name) of an empty file opened for reading and writing, its times now (as a new file's)."""
        with self._lock:
            spare = self._spare.pop() if self._spare else None
        if spare is None:
            return tempfile.mkstemp(dir=self.directory, prefix="staged-")
        os.ftruncate(spare[0], 0)  # empty already: this sets its mtime and ctime to now
        return spare

    def give(self, fd, name):
        """A local copy no longer needed: emptied (its blocks freed now) and kept, or removed."""
        try:
            os.ftruncate(fd, 0)
        except OSError:
            keep = False
        else:
            with self._lock:
                keep = len(self._spare) < SPARE_FILES
                if keep:
                    self._spare.append((fd, name))
        if not keep:
            os.close(fd)
            os.unlink(name)

    def close(self):
        with self._lock:
            spare, self._spare = self._spare, []
        for fd, name in spare:
            os.close(fd)
            os.unlink(name)


def _holes(fd, size):
    """[(offset, count)] of the holes of a local file of ``size`` bytes (SEEK_HOLE/SEEK_DATA), at most MAX_HOLES."""
    holes, position = [], 0
    while position < size:
        hole = os.lseek(fd, position, os.SEEK_HOLE)
        if hole >= size:
            break
        try:
            data = os.lseek(fd, hole, os.SEEK_DATA)
        except OSError:  # ENXIO: no data after the hole
            data = size
        holes.append((hole, data - hole))
        position = data
    if len(holes) > MAX_HOLES:
        holes = sorted(sorted(holes, key=lambda hole: hole[1], reverse=True)[:MAX_HOLES])
    return holes


class _StoredBytes:
    """The bytes of a local file outside its ``holes``, as one file object: an upload's body."""

    def __init__(self, fd, size, holes):
        self._fd = fd
        self._regions = []  # (file offset, count) of the bytes to send
        position = 0
        for offset, count in [*holes, (size, 0)]:
            if offset > position:
                self._regions.append((position, offset - position))
            position = offset + count
        self.length = sum(count for _, count in self._regions)
        self._pos = 0

    def read(self, n=-1):
        n = self.length - self._pos if n is None or n < 0 else min(n, self.length - self._pos)
        parts, skipped = [], 0
        for offset, count in self._regions:
            if skipped + count > self._pos and n > 0:
                start = self._pos - skipped
                data = os.pread(self._fd, min(n, count - start), offset + start)
                parts.append(data)
                self._pos += len(data)
                n -= len(data)
            skipped += count
        return b"".join(parts)

    def seek(self, offset, whence=os.SEEK_SET):
        self._pos = (offset, self._pos + offset, self.length + offset)[whence]
        return self._pos

    def tell(self):
        return self._pos


def ns_to_ms(ns):
    """dfs keeps times in milliseconds; None (leave unchanged) stays None."""
    return None if ns is None else ns // 1_000_000
