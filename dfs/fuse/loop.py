"""fusepy's loop with utimens passing UTIME_NOW and UTIME_OMIT through, fallocate (which fusepy 3.0.1 does not
know), and a way for operations to learn that the loop was told to exit. Importing this fails without libfuse."""

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


class _Operations(ctypes.Structure):
    """libfuse 2.9's struct fuse_operations: fusepy's, which stops at ioctl, and the members after it up to
    fallocate (poll, write_buf, read_buf and flock stay unset)."""

    _fields_ = [*fusepy.fuse_operations._fields_,
                ("poll", ctypes.c_void_p), ("write_buf", ctypes.c_void_p), ("read_buf", ctypes.c_void_p),
                ("flock", ctypes.c_void_p),
                ("fallocate", ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_int64,
                                               ctypes.c_int64, ctypes.POINTER(fusepy.fuse_file_info)))]


class FUSE(fusepy.FUSE):
    """fusepy turns each timespec into one number, so UTIME_OMIT would become a time a second off; this keeps the
    markers' meaning. With the operations' ``flag_utime_omit_ok`` libfuse sends them for atime-only and mtime-only
    changes, which it otherwise drops without calling utimens at all.

    fusepy builds its table of operations from its module's ``fuse_operations``, so the longer one takes its place."""

    def __init__(self, operations, mountpoint, **kwargs):
        fusepy.fuse_operations = _Operations
        super().__init__(operations, mountpoint, **kwargs)

    def utimens(self, path, buf):
        times = (timespec_ns(buf.contents.actime), timespec_ns(buf.contents.modtime)) if buf else None
        return self.operations("utimens", path.decode(self.encoding), times)

    def fallocate(self, path, mode, offset, length, fip):
        return self.operations("fallocate", path.decode(self.encoding), mode, offset, length, fip.contents)


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
