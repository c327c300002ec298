"""fusepy's loop with utimens passing UTIME_NOW and UTIME_OMIT through, and a way for operations to learn that
the loop was told to exit. Importing this fails without libfuse."""

import ctypes
import time

import fuse as fusepy

# Linux's markers in a timespec's tv_nsec (not exposed by the os module).
UTIME_NOW = (1 << 30) - 1
UTIME_OMIT = (1 << 30) - 2


def timespec_ns(ts):
    """Nanoseconds since the epoch, the current time for UTIME_NOW, None for UTIME_OMIT (leave unchanged)."""
    if ts.tv_nsec == UTIME_OMIT:
        return None
    if ts.tv_nsec == UTIME_NOW:
        return time.time_ns()
    return ts.tv_sec * 1_000_000_000 + ts.tv_nsec


# (uid, gid, pid) of the request the calling thread serves.
context = fusepy.fuse_get_context


class FUSE(fusepy.FUSE):
    """fusepy turns each timespec into one number, so UTIME_OMIT would become a time a second off; this keeps the
    markers' meaning. With the operations' ``flag_utime_omit_ok`` libfuse sends them for atime-only and mtime-only
    changes, which it otherwise drops without calling utimens at all."""

    def utimens(self, path, buf):
        times = (timespec_ns(buf.contents.actime), timespec_ns(buf.contents.modtime)) if buf else None
        return self.operations("utimens", path.decode(self.encoding), times)


class Session:
    """Whether the running loop was told to exit (libfuse's own SIGTERM, SIGINT and SIGHUP handlers set the flag).
    libfuse then waits for every operation in progress before it unmounts, so operations that wait ask this."""

    def __init__(self):
        self._fuse = None

    def attach(self):
        """Called from the ``init`` operation, the one place where libfuse's context names the loop."""
        self._fuse = ctypes.c_void_p(fusepy._libfuse.fuse_get_context().contents.fuse)

    def detach(self):
        """Called from ``destroy``: the loop is gone after it."""
        self._fuse = None

    def exiting(self):
        fuse = self._fuse
        return fuse is not None and bool(fusepy._libfuse.fuse_exited(fuse))
