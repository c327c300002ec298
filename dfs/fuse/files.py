"""A file open in the mount: read from the cluster's verified blocks, or staged in a local copy while written."""

import bisect
import os
import tempfile
import threading
from typing import NamedTuple

from dfs import extents as file_extents


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
        self._layout = _Layout((), (), 0)

    # -- reading from the cluster ------------------------------------------------------------------

    def set_locations(self, answer):
        """Take a GETFILEBLOCKLOCATIONS answer for the whole file (replacing the last one in one step)."""
        locations = tuple(answer["BlockLocation"])
        length = answer.get("fileLength", sum(loc["length"] for loc in locations))
        self._layout = _Layout(locations, tuple(loc["offset"] for loc in locations), length)

    @property
    def length(self):
        return self._layout.length

    def pieces(self, offset, size):
        """(location, offset in block, count, next location or None) for each block holding bytes of
        [offset, offset + size), all from one layout even if another open replaces it meanwhile."""
        locations, starts, length = self._layout
        end = file_extents.clamp(offset, size, length)
        i = max(bisect.bisect_right(starts, offset) - 1, 0)
        while offset < end and i < len(locations):
            loc = locations[i]
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

    def stage(self, client, directory, download):
        """Make the local copy: the cluster's current bytes with ``download``, else an empty file."""
        fd, name = tempfile.mkstemp(dir=directory, prefix="staged-")
        os.close(fd)
        try:
            if download:
                client.download(self.path, name)
            self.fd = os.open(name, os.O_RDWR)
        except BaseException:
            os.unlink(name)
            raise
        self.staged = name

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
        """Replace the cluster's file with the local copy (atomically: readers see the old or the new file).
        Times set while it was dirty go with the upload, which would otherwise move the mtime: one request."""
        atime, mtime = self.times or (None, None)
        with open(self.staged, "rb") as f:
            client.upload(self.path, f, overwrite=True, permission=self.mode if self.new else None,
                          mtime=ns_to_ms(mtime), atime=ns_to_ms(atime))
        self.dirty = self.new = False
        self.times = None

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            os.unlink(self.staged)
            self.fd = self.staged = None


def ns_to_ms(ns):
    """dfs keeps times in milliseconds; None (leave unchanged) stays None."""
    return None if ns is None else ns // 1_000_000
