"""The audit trail: one line per namespace operation, allowed or denied, in HDFS's audit-log format, written to its
own size-rotated file by a writer thread so requests do not wait on the disk; the last denials kept in memory."""

import os
import queue
import threading
import time
from collections import deque
from typing import NamedTuple, Optional

from twisted.logger import Logger

from dfs.namenode.permissions import mode_string

log = Logger()

DEFAULT_MAX_BYTES = 64 << 20
DEFAULT_BACKUPS = 10
DEFAULT_DENIALS_KEPT = 50
QUEUED_LINES = 10_000  # lines waiting for the writer; past this, record() waits for the disk rather than lose one
# The writer lets lines gather this long after the first before writing them: waking it for every line cost the
# reactor a thread switch per request (15% of a namenode's CPU serving GETFILESTATUS).
LINGER = 0.05
PREFIX = "INFO FSNamesystem.audit: "  # HDFS's logger name, so tools that read HDFS audit logs read these lines
FILE_MODE = 0o600  # the trail names every user's paths
_ESCAPED = {c: f"\\x{c:02x}" for c in [*range(0x20), 0x7F, ord("\\")]}


class AuditEvent(NamedTuple):
    """One audited operation. ``time`` in seconds since the epoch; ``auth`` how the user was known (``TOKEN``,
    ``SIMPLE`` for ``user.name`` on an open cluster); ``real_user`` the token's user when it acts for ``user``
    (``doas``); ``perm`` the resulting ``owner:group:mode`` of an operation that changes an inode, else None."""

    time: float
    allowed: bool
    user: str
    auth: str
    ip: str
    cmd: str
    src: Optional[str]
    dst: Optional[str] = None
    perm: Optional[str] = None
    proto: str = "webhdfs"
    real_user: Optional[str] = None


def perm_text(inode):
    """``alice:staff:rw-r--r--``, an inode's owner, group and mode as the audit log shows them."""
    return f"{inode.owner}:{inode.group}:{mode_string(inode.mode)}"


def ugi_text(event):
    """HDFS's UserGroupInformation text: ``alice (auth:TOKEN)``, or ``bob (auth:PROXY) via alice (auth:TOKEN)``."""
    if event.real_user is None:
        return f"{event.user} (auth:{event.auth})"
    return f"{event.user} (auth:PROXY) via {event.real_user} (auth:{event.auth})"


def _field(value):
    """A value as one field: ``null`` when absent (HDFS), control characters and backslashes escaped as ``\\xNN``
    so that a name can neither split a field nor forge a line."""
    return "null" if value is None else str(value).translate(_ESCAPED)


def format_line(event):
    """One line of the trail: a UTC timestamp with milliseconds, then HDFS's tab-separated fields."""
    milliseconds = round(event.time * 1000)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(milliseconds // 1000)) + f",{milliseconds % 1000:03d}"
    fields = [("allowed", "true" if event.allowed else "false"), ("ugi", ugi_text(event)), ("ip", "/" + event.ip),
              ("cmd", event.cmd), ("src", event.src), ("dst", event.dst), ("perm", event.perm),
              ("proto", event.proto)]
    return stamp + " " + PREFIX + "\t".join(f"{name}={_field(value)}" for name, value in fields) + "\n"


class RotatingFile:
    """An unbuffered append-only file that, before a write would take it past ``max_bytes``, becomes ``path.1``
    (``path.1`` becoming ``path.2``..., the oldest past ``path.<backups>`` deleted). Not twisted.python.logfile:
    LogFile creates a file of a given mode by zeroing the process's umask for a moment, which races with every other
    thread creating files, and rotates only after a write has already passed the size."""

    def __init__(self, path, max_bytes, backups):
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        self._open()

    def write(self, data):
        if self.size and self.size + len(data) > self.max_bytes:
            self.rotate()
        self._file.write(data)
        self.size += len(data)

    def rotate(self):
        self._file.close()
        for n in range(self.backups - 1, 0, -1):
            if os.path.exists(f"{self.path}.{n}"):
                os.replace(f"{self.path}.{n}", f"{self.path}.{n + 1}")
        if self.backups:
            os.replace(self.path, f"{self.path}.1")
        else:
            os.remove(self.path)
        self._open()

    def close(self):
        self._file.close()

    def _open(self):
        self._file = os.fdopen(os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE), "ab", 0)
        self.size = os.fstat(self._file.fileno()).st_size


class AuditLog:
    """The namenode's audit trail at ``path``, rotated by size (RotatingFile). ``record`` formats the line and
    queues it; one daemon thread writes what is queued. With ``threaded`` False lines are written at once (tests)."""

    def __init__(self, path, clock, max_bytes=DEFAULT_MAX_BYTES, backups=DEFAULT_BACKUPS,
                 denials_kept=DEFAULT_DENIALS_KEPT, threaded=True):
        self.clock = clock
        self.file = RotatingFile(path, max_bytes, backups)
        self.denials = deque(maxlen=denials_kept)
        self.failures = 0
        self._queue = queue.Queue(QUEUED_LINES) if threaded else None
        self._thread = None
        if threaded:
            self._thread = threading.Thread(target=self._write_queued, name="dfs-audit", daemon=True)
            self._thread.start()

    def record(self, allowed, user, cmd, src, ip, dst=None, inode=None, auth="TOKEN", proto="webhdfs",
               real_user=None):
        """Audit one operation; ``inode`` is the inode as the operation left it (for ``perm``)."""
        event = AuditEvent(self.clock.seconds(), allowed, user, auth, ip, cmd, src, dst,
                           None if inode is None else perm_text(inode), proto, real_user)
        if not allowed:
            self.denials.append(event)
        line = format_line(event).encode("utf-8")
        if self._queue is None:
            self._write([line])
        else:
            self._queue.put(line)
        return event

    def recent_denials(self):
        """The last denials, newest first (for the status page)."""
        return list(reversed(self.denials))

    def close(self, timeout=10.0):
        """Write what is queued, then close the file."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout)
            self._thread = None
        self.file.close()

    def _write_queued(self):
        while True:
            lines = [self._queue.get()]
            if lines[0] is not None:
                time.sleep(LINGER)
            while len(lines) < QUEUED_LINES:
                try:
                    lines.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            done = None in lines
            self._write([line for line in lines if line is not None])
            if done:
                return

    def _write(self, lines):
        try:
            chunk, size = [], 0
            for line in lines:  # together, but a file is still rotated before the line that would overflow it
                if chunk and self.file.size + size + len(line) > self.file.max_bytes:
                    self.file.write(b"".join(chunk))
                    chunk, size = [], 0
                chunk.append(line)
                size += len(line)
            if chunk:
                self.file.write(b"".join(chunk))
        except OSError:
            self.failures += 1
            log.failure("cannot write {count} audit lines to {path}", count=len(lines), path=self.file.path)
