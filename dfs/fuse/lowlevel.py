"""libfuse 2's low-level API through ctypes: the kernel's node id is the file's fileId, so every name of one file
(hard links) is one kernel inode, and each request is turned into a call of the path-based ``DFSOperations``.
Importing this fails without libfuse (fusepy finds and loads it)."""

import contextlib
import ctypes
import errno
import itertools
import os
import signal
import threading
import time

import fuse as fusepy
from twisted.logger import Logger

from dfs.fuse.operations import HIDDEN_PREFIX, USER_XATTRS

log = Logger()

_lib = fusepy._libfuse
c_stat, c_statvfs, fuse_file_info = fusepy.c_stat, fusepy.c_statvfs, fusepy.fuse_file_info
c_ino, c_off, c_mode, c_dev = ctypes.c_ulong, ctypes.c_int64, ctypes.c_uint, ctypes.c_uint64
c_req = ctypes.c_void_p
fi_p = ctypes.POINTER(fuse_file_info)

ROOT = 1  # the kernel's node id of the mount's root
# setattr's to_set bits (fuse_lowlevel.h).
SET_MODE, SET_UID, SET_GID, SET_SIZE, SET_ATIME, SET_MTIME = 1, 2, 4, 8, 16, 32
SET_ATIME_NOW, SET_MTIME_NOW = 1 << 7, 1 << 8
# The kernel's timeouts for entries and attributes are answered here; libfuse's low-level layer refuses them (and
# use_ino, which the node ids make moot) as options.
TIMEOUTS = {"attr_timeout": 1.0, "entry_timeout": 1.0, "negative_timeout": 0.0}
BRIDGE_OPTIONS = {*TIMEOUTS, "use_ino"}
_USER_XATTRS = USER_XATTRS.encode()
# The threads serving requests (see _Workers): at most this many; how often the loop looks whether a signal told it
# to exit; the signal that wakes a thread waiting for a request then, and for how long the loop tries.
MAX_WORKERS = 128
EXIT_POLL = 0.1
WAKE = signal.SIGUSR1
WAKE_FOR = 30.0
# A listing's entries carry no attributes (the kernel looks each name up): "unknown inode", libfuse's own marker.
UNKNOWN_INO = 0xFFFFFFFF


class fuse_entry_param(ctypes.Structure):
    # fusepy's struct stat stops before glibc's three reserved longs at its end (144 bytes on x86_64).
    _fields_ = [("ino", c_ino), ("generation", ctypes.c_ulong), ("attr", c_stat), ("attr_reserved", ctypes.c_long * 3),
                ("attr_timeout", ctypes.c_double), ("entry_timeout", ctypes.c_double)]


class fuse_ctx(ctypes.Structure):
    _fields_ = [("uid", ctypes.c_uint), ("gid", ctypes.c_uint), ("pid", ctypes.c_int), ("umask", ctypes.c_uint)]


class fuse_forget_data(ctypes.Structure):
    _fields_ = [("ino", ctypes.c_uint64), ("nlookup", ctypes.c_uint64)]


class fuse_buf(ctypes.Structure):
    _fields_ = [("size", ctypes.c_size_t), ("flags", ctypes.c_int), ("mem", ctypes.c_void_p), ("fd", ctypes.c_int),
                ("pos", c_off)]


class fuse_args(ctypes.Structure):
    _fields_ = [("argc", ctypes.c_int), ("argv", ctypes.POINTER(ctypes.c_char_p)), ("allocated", ctypes.c_int)]


def _op(*argtypes):
    return ctypes.CFUNCTYPE(None, c_req, *argtypes)


class fuse_lowlevel_ops(ctypes.Structure):
    """libfuse 2.9.9's struct fuse_lowlevel_ops, member for member."""

    _fields_ = [
        ("init", ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)),
        ("destroy", ctypes.CFUNCTYPE(None, ctypes.c_void_p)),
        ("lookup", _op(c_ino, ctypes.c_char_p)),
        ("forget", _op(c_ino, ctypes.c_ulong)),
        ("getattr", _op(c_ino, fi_p)),
        ("setattr", _op(c_ino, ctypes.POINTER(c_stat), ctypes.c_int, fi_p)),
        ("readlink", _op(c_ino)),
        ("mknod", _op(c_ino, ctypes.c_char_p, c_mode, c_dev)),
        ("mkdir", _op(c_ino, ctypes.c_char_p, c_mode)),
        ("unlink", _op(c_ino, ctypes.c_char_p)),
        ("rmdir", _op(c_ino, ctypes.c_char_p)),
        ("symlink", _op(ctypes.c_char_p, c_ino, ctypes.c_char_p)),
        ("rename", _op(c_ino, ctypes.c_char_p, c_ino, ctypes.c_char_p)),
        ("link", _op(c_ino, c_ino, ctypes.c_char_p)),
        ("open", _op(c_ino, fi_p)),
        ("read", _op(c_ino, ctypes.c_size_t, c_off, fi_p)),
        ("write", _op(c_ino, ctypes.c_void_p, ctypes.c_size_t, c_off, fi_p)),
        ("flush", _op(c_ino, fi_p)),
        ("release", _op(c_ino, fi_p)),
        ("fsync", _op(c_ino, ctypes.c_int, fi_p)),
        ("opendir", _op(c_ino, fi_p)),
        ("readdir", _op(c_ino, ctypes.c_size_t, c_off, fi_p)),
        ("releasedir", _op(c_ino, fi_p)),
        ("fsyncdir", _op(c_ino, ctypes.c_int, fi_p)),
        ("statfs", _op(c_ino)),
        ("setxattr", _op(c_ino, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)),
        ("getxattr", _op(c_ino, ctypes.c_char_p, ctypes.c_size_t)),
        ("listxattr", _op(c_ino, ctypes.c_size_t)),
        ("removexattr", _op(c_ino, ctypes.c_char_p)),
        ("access", _op(c_ino, ctypes.c_int)),
        ("create", _op(c_ino, ctypes.c_char_p, c_mode, fi_p)),
        # Left unset: the kernel then keeps locks itself, as it did with the high-level API.
        ("getlk", ctypes.c_void_p), ("setlk", ctypes.c_void_p), ("bmap", ctypes.c_void_p),
        ("ioctl", ctypes.c_void_p), ("poll", ctypes.c_void_p), ("write_buf", ctypes.c_void_p),
        ("retrieve_reply", ctypes.c_void_p),
        ("forget_multi", _op(ctypes.c_size_t, ctypes.POINTER(fuse_forget_data))),
        ("flock", ctypes.c_void_p),
        ("fallocate", _op(c_ino, ctypes.c_int, c_off, c_off, fi_p)),
    ]


def _declare(name, restype, *argtypes):
    function = getattr(_lib, name)
    function.restype, function.argtypes = restype, list(argtypes)


for _name, _restype, *_argtypes in [
    ("fuse_reply_err", ctypes.c_int, c_req, ctypes.c_int),
    ("fuse_reply_none", None, c_req),
    ("fuse_reply_entry", ctypes.c_int, c_req, ctypes.POINTER(fuse_entry_param)),
    ("fuse_reply_create", ctypes.c_int, c_req, ctypes.POINTER(fuse_entry_param), fi_p),
    ("fuse_reply_attr", ctypes.c_int, c_req, ctypes.POINTER(c_stat), ctypes.c_double),
    ("fuse_reply_readlink", ctypes.c_int, c_req, ctypes.c_char_p),
    ("fuse_reply_open", ctypes.c_int, c_req, fi_p),
    ("fuse_reply_write", ctypes.c_int, c_req, ctypes.c_size_t),
    ("fuse_reply_buf", ctypes.c_int, c_req, ctypes.c_char_p, ctypes.c_size_t),
    ("fuse_reply_statfs", ctypes.c_int, c_req, ctypes.POINTER(c_statvfs)),
    ("fuse_reply_xattr", ctypes.c_int, c_req, ctypes.c_size_t),
    ("fuse_add_direntry", ctypes.c_size_t, c_req, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p,
     ctypes.POINTER(c_stat), c_off),
    ("fuse_req_ctx", ctypes.POINTER(fuse_ctx), c_req),
    ("fuse_mount", ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(fuse_args)),
    ("fuse_unmount", None, ctypes.c_char_p, ctypes.c_void_p),
    ("fuse_lowlevel_new", ctypes.c_void_p, ctypes.POINTER(fuse_args), ctypes.POINTER(fuse_lowlevel_ops),
     ctypes.c_size_t, ctypes.c_void_p),
    ("fuse_opt_free_args", None, ctypes.POINTER(fuse_args)),
    ("fuse_set_signal_handlers", ctypes.c_int, ctypes.c_void_p),
    ("fuse_remove_signal_handlers", None, ctypes.c_void_p),
    ("fuse_session_add_chan", None, ctypes.c_void_p, ctypes.c_void_p),
    ("fuse_chan_bufsize", ctypes.c_size_t, ctypes.c_void_p),
    ("fuse_session_receive_buf", ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(fuse_buf),
     ctypes.POINTER(ctypes.c_void_p)),
    ("fuse_session_process_buf", None, ctypes.c_void_p, ctypes.POINTER(fuse_buf), ctypes.c_void_p),
    ("fuse_session_exit", None, ctypes.c_void_p),
    ("fuse_session_exited", ctypes.c_int, ctypes.c_void_p),
    ("fuse_session_reset", None, ctypes.c_void_p),
    ("fuse_session_destroy", None, ctypes.c_void_p),
]:
    _declare(_name, _restype, *_argtypes)


_request = threading.local()


def context():
    """(uid, gid, pid) of the request the calling thread serves; the mount's start and end (init, destroy) act as
    uid 0, the mount's own user."""
    return getattr(_request, "context", (0, 0, 0))


class Session:
    """Whether the running loop was told to exit (libfuse's own SIGTERM, SIGINT and SIGHUP handlers set the flag).
    libfuse then waits for every operation in progress before it unmounts, so operations that wait ask this."""

    def __init__(self):
        self._se = None

    def exiting(self):
        se = self._se
        return se is not None and bool(_lib.fuse_session_exited(se))


class _Node:
    """What the kernel holds of one inode: its names as (parent node id, name), most recently used first (a
    directory has one), how many lookups it has not forgotten, and its open handles."""

    __slots__ = ("names", "lookups", "handles", "hidden")

    def __init__(self):
        self.names = []
        self.lookups = 0
        self.handles = set()
        self.hidden = None  # (parent, name) it was hidden under while open (see Bridge._hide_if_open)


class Nodes:
    """Node ids and the names the kernel knows them by. A node id is the inode number the operations show (the
    fileId, or the number a file created here shows before its upload), the root's swapped with ROOT."""

    def __init__(self, root_ino):
        self._root_ino = root_ino
        self._lock = threading.Lock()
        self._nodes = {ROOT: _Node()}
        self._entries = {}  # (parent node id, name) -> node id

    def node_id(self, ino):
        return ROOT if ino == self._root_ino else self._root_ino if ino == ROOT else ino

    def paths(self, node_id):
        """The paths of ``node_id``, most recently used first; a name whose directory was forgotten has none."""
        with self._lock:
            return self._paths(node_id)

    def _paths(self, node_id):
        if node_id == ROOT:
            return ["/"]
        node = self._nodes.get(node_id)
        found = []
        for parent, name in node.names if node is not None else ():
            found.extend(_join(p, name) for p in self._paths(parent)[:1])
        return found

    def learn(self, parent, name, ino):
        """The kernel now holds ``parent``/``name`` as the file numbered ``ino`` (one more lookup); its node id."""
        node_id = self.node_id(ino)
        with self._lock:
            self._drop_entry((parent, name))
            node = self._nodes.setdefault(node_id, _Node())
            if node_id != ROOT:
                node.names.insert(0, (parent, name))
                self._entries[parent, name] = node_id
            node.lookups += 1
        return node_id

    def forget(self, node_id, count):
        with self._lock:
            node = self._nodes.get(node_id)
            if node is None or node_id == ROOT:
                return
            node.lookups -= count
            if node.lookups <= 0:
                del self._nodes[node_id]
                for entry in node.names:
                    if self._entries.get(entry) == node_id:
                        del self._entries[entry]

    def removed(self, parent, name):
        with self._lock:
            self._drop_entry((parent, name))

    def renamed(self, parent, name, new_parent, new_name):
        with self._lock:
            self._drop_entry((new_parent, new_name))
            node_id = self._entries.pop((parent, name), None)
            node = self._nodes.get(node_id)
            if node is not None:
                node.names = [(new_parent, new_name) if n == (parent, name) else n for n in node.names]
                self._entries[new_parent, new_name] = node_id

    def _drop_entry(self, entry):
        node = self._nodes.get(self._entries.pop(entry, None))
        if node is not None and entry in node.names:
            node.names.remove(entry)

    def opened(self, node_id, fh):
        with self._lock:
            self._nodes.setdefault(node_id, _Node()).handles.add(fh)

    def closed(self, node_id, fh):
        """The last handle of ``node_id`` is closed: the (parent, name) it was hidden under, to remove, or None."""
        with self._lock:
            node = self._nodes.get(node_id)
            if node is None:
                return None
            node.handles.discard(fh)
            hidden, node.hidden = (node.hidden, None) if not node.handles else (None, node.hidden)
            return hidden

    def open_alone(self, parent, name):
        """The node id at ``parent``/``name`` when it is open and that is its only name, else None."""
        with self._lock:
            node_id = self._entries.get((parent, name))
            node = self._nodes.get(node_id)
            return node_id if node is not None and node.handles and node.names == [(parent, name)] else None

    def hide(self, node_id, parent, name, hidden_name):
        with self._lock:
            self._nodes[node_id].hidden = (parent, hidden_name)
        self.renamed(parent, name, parent, hidden_name)

    def handle(self, node_id):
        """An open handle of ``node_id``, or None."""
        with self._lock:
            node = self._nodes.get(node_id)
            return next(iter(node.handles), None) if node is not None else None


class Bridge:
    """The low-level operations: each finds the path (or paths) of its node and calls ``operations``."""

    def __init__(self, operations, session, timeouts):
        self.operations = operations
        self.session = session
        self.attr_timeout, self.entry_timeout, self.negative_timeout = (
            timeouts[name] for name in ("attr_timeout", "entry_timeout", "negative_timeout"))
        self.nodes = None  # set in init: the root's number comes from the cluster
        self._dirs = {}  # directory handle -> its names, read at offset 0
        self._dir_ids = itertools.count(1)
        self._dir_lock = threading.Lock()
        self._hidden_ids = itertools.count()
        # Kept here: libfuse calls these for as long as the session lives.
        self.ops = fuse_lowlevel_ops(**{name: kind(getattr(self, "_" + name))
                                        for name, kind in fuse_lowlevel_ops._fields_ if kind is not ctypes.c_void_p})

    # -- replies -----------------------------------------------------------------------------------

    def _serve(self, req, work):
        """Run ``work`` for ``req`` as its caller; an error becomes the reply."""
        ctx = _lib.fuse_req_ctx(req).contents
        _request.context = (ctx.uid, ctx.gid, ctx.pid)
        try:
            work()
        except OSError as e:
            _lib.fuse_reply_err(req, e.errno or errno.EIO)
        except Exception:
            log.failure("a FUSE request failed")
            _lib.fuse_reply_err(req, errno.EIO)

    def _stat(self, attrs):
        st = c_stat()
        fusepy.set_st_attrs(st, attrs, use_ns=True)
        return st

    def _reply_entry(self, req, parent, name, attrs, fi=None):
        entry = fuse_entry_param(attr=self._stat(attrs), attr_timeout=self.attr_timeout,
                                 entry_timeout=self.entry_timeout)
        entry.ino = self.nodes.learn(parent, name, attrs["st_ino"])
        if fi is None:
            _lib.fuse_reply_entry(req, entry)
        else:
            self.nodes.opened(entry.ino, fi.contents.fh)
            _lib.fuse_reply_create(req, entry, fi)

    def _on_node(self, node_id, op, *args):
        return self._by_name(node_id, lambda path: self.operations(op, path, *args))

    def _by_name(self, node_id, use):
        """``use`` the first path of ``node_id`` that still names it (another mount may have removed one): the one
        it is open under here first, so that every handle of the file and every change to it share one open file."""
        names = self.nodes.paths(node_id)
        fh = self.nodes.handle(node_id)
        opened = self.operations.path_of(fh) if fh is not None else None
        if opened is not None:
            names = [opened, *(name for name in names if name != opened)]
        if not names:
            raise OSError(errno.ESTALE, "no known name")
        for path in names[:-1]:
            try:
                return use(path)
            except FileNotFoundError:
                pass
        return use(names[-1])

    def _path(self, node_id):
        """A path of ``node_id`` for an operation on an open handle (the handle says which file), None if none."""
        names = self.nodes.paths(node_id)
        return names[0] if names else None

    def _child(self, parent, name):
        names = self.nodes.paths(parent)
        if not names:
            raise OSError(errno.ESTALE, "no known name")
        return _join(names[0], name)

    def _attrs(self, node_id, fi=None):
        return self._on_node(node_id, "getattr", fi.contents if fi else None)

    # -- lifecycle ---------------------------------------------------------------------------------

    def _init(self, userdata, conn):
        try:
            root_ino = self.operations("getattr", "/")["st_ino"]
        except OSError as e:  # the cluster answered just before the mount: its next answers will tell
            log.warn("the root's inode number is unknown: {error}", error=e)
            root_ino = ROOT
        self.nodes = Nodes(root_ino)
        self.operations("init", "/")

    def _destroy(self, userdata):
        try:
            self.operations("destroy", "/")
        finally:
            self.session._se = None

    # -- names -------------------------------------------------------------------------------------

    def _lookup(self, req, parent, name):
        name = os.fsdecode(name)

        def work():
            path = self._child(parent, name)
            try:
                attrs = self.operations("getattr", path)
            except FileNotFoundError:
                if not self.negative_timeout:
                    raise
                _lib.fuse_reply_entry(req, fuse_entry_param(entry_timeout=self.negative_timeout))
                return
            self._reply_entry(req, parent, name, attrs)
        self._serve(req, work)

    def _forget(self, req, node_id, count):
        self.nodes.forget(node_id, count)
        _lib.fuse_reply_none(req)

    def _forget_multi(self, req, count, forgets):
        for i in range(count):
            self.nodes.forget(forgets[i].ino, forgets[i].nlookup)
        _lib.fuse_reply_none(req)

    def _new_entry(self, req, parent, name, op, *args):
        """Make ``parent``/``name`` with ``op`` and answer with its entry."""
        name = os.fsdecode(name)

        def work():
            path = self._child(parent, name)
            self.operations(op, path, *args)
            self._reply_entry(req, parent, name, self.operations("getattr", path))
        self._serve(req, work)

    def _mknod(self, req, parent, name, mode, rdev):
        self._new_entry(req, parent, name, "mknod", mode, rdev)

    def _mkdir(self, req, parent, name, mode):
        self._new_entry(req, parent, name, "mkdir", mode)

    def _symlink(self, req, target, parent, name):
        self._new_entry(req, parent, name, "symlink", os.fsdecode(target))

    def _link(self, req, node_id, parent, name):
        name = os.fsdecode(name)

        def work():
            path = self._child(parent, name)
            self._by_name(node_id, lambda source: self.operations("link", path, source))  # (new name, existing one)
            self._reply_entry(req, parent, name, self.operations("getattr", path))
        self._serve(req, work)

    def _unlink(self, req, parent, name):
        self._remove(req, parent, name, "unlink")

    def _rmdir(self, req, parent, name):
        self._remove(req, parent, name, "rmdir")

    def _remove(self, req, parent, name, op):
        name = os.fsdecode(name)

        def work():
            if op == "rmdir" or not self._hide_if_open(parent, name):
                self.operations(op, self._child(parent, name))
                self.nodes.removed(parent, name)
            _lib.fuse_reply_err(req, 0)
        self._serve(req, work)

    def _hide_if_open(self, parent, name):
        """As libfuse's high-level API does: the last name of an open file is renamed to a hidden one, which the
        operations know (an unlinked file lives on in this mount only, for its handles, see DFSOperations._hide),
        and removed after the last release. Whether it was."""
        node_id = self.nodes.open_alone(parent, name)
        if node_id is None:
            return False
        hidden_name = f"{HIDDEN_PREFIX}{node_id & 0xFFFFFFFF:08x}{next(self._hidden_ids):08x}"
        self.operations("rename", self._child(parent, name), self._child(parent, hidden_name))
        self.nodes.hide(node_id, parent, name, hidden_name)
        return True

    def _rename(self, req, parent, name, new_parent, new_name):
        name, new_name = os.fsdecode(name), os.fsdecode(new_name)

        def work():
            self._hide_if_open(new_parent, new_name)
            self.operations("rename", self._child(parent, name), self._child(new_parent, new_name))
            self.nodes.renamed(parent, name, new_parent, new_name)
            _lib.fuse_reply_err(req, 0)
        self._serve(req, work)

    # -- attributes --------------------------------------------------------------------------------

    def _getattr(self, req, node_id, fi):
        self._serve(req, lambda: _lib.fuse_reply_attr(req, self._stat(self._attrs(node_id, fi)), self.attr_timeout))

    def _setattr(self, req, node_id, attr, to_set, fi):
        """In libfuse's high-level order: mode, owner, size, times; then the attributes as they are now."""
        def work():
            new = attr.contents
            if to_set & SET_MODE:
                self._on_node(node_id, "chmod", new.st_mode)
            if to_set & (SET_UID | SET_GID):
                self._on_node(node_id, "chown", new.st_uid if to_set & SET_UID else -1,
                              new.st_gid if to_set & SET_GID else -1)
            if to_set & SET_SIZE:
                self._on_node(node_id, "truncate", new.st_size, fi.contents if fi else None)
            if to_set & (SET_ATIME | SET_MTIME):
                now = time.time_ns()
                self._on_node(node_id, "utimens", (_time(to_set, SET_ATIME, SET_ATIME_NOW, new.st_atimespec, now),
                                                   _time(to_set, SET_MTIME, SET_MTIME_NOW, new.st_mtimespec, now)))
            _lib.fuse_reply_attr(req, self._stat(self._attrs(node_id, fi)), self.attr_timeout)
        self._serve(req, work)

    def _readlink(self, req, node_id):
        self._serve(req, lambda: _lib.fuse_reply_readlink(req, os.fsencode(self._on_node(node_id, "readlink"))))

    def _access(self, req, node_id, mask):
        def work():
            self._on_node(node_id, "access", mask)
            _lib.fuse_reply_err(req, 0)
        self._serve(req, work)

    def _statfs(self, req, node_id):
        def work():
            st = c_statvfs()
            for key, value in self.operations("statfs", "/").items():
                setattr(st, key, value)
            _lib.fuse_reply_statfs(req, st)
        self._serve(req, work)

    # -- extended attributes -----------------------------------------------------------------------

    def _setxattr(self, req, node_id, name, value, size, flags):
        def work():
            self._on_node(node_id, "setxattr", os.fsdecode(name), ctypes.string_at(value, size), flags)
            _lib.fuse_reply_err(req, 0)
        self._serve(req, work)

    def _getxattr(self, req, node_id, name, size):
        if not name.startswith(_USER_XATTRS):  # security.capability, asked before every write: answered at once
            _lib.fuse_reply_err(req, errno.ENODATA)
            return
        self._serve(req, lambda: self._reply_sized(req, size, self._on_node(node_id, "getxattr", os.fsdecode(name))))

    def _listxattr(self, req, node_id, size):
        def work():
            names = self._on_node(node_id, "listxattr")
            self._reply_sized(req, size, b"".join(os.fsencode(n) + b"\0" for n in names))
        self._serve(req, work)

    def _reply_sized(self, req, size, value):
        """getxattr(2) and listxattr(2): size 0 asks for the length."""
        if not size:
            _lib.fuse_reply_xattr(req, len(value))
        elif len(value) > size:
            _lib.fuse_reply_err(req, errno.ERANGE)
        else:
            _lib.fuse_reply_buf(req, value, len(value))

    def _removexattr(self, req, node_id, name):
        def work():
            self._on_node(node_id, "removexattr", os.fsdecode(name))
            _lib.fuse_reply_err(req, 0)
        self._serve(req, work)

    # -- files -------------------------------------------------------------------------------------

    def _create(self, req, parent, name, mode, fi):
        name = os.fsdecode(name)

        def work():
            path = self._child(parent, name)
            self.operations("create", path, mode, fi.contents)
            self._reply_entry(req, parent, name, self.operations("getattr", path, fi.contents), fi)
        self._serve(req, work)

    def _open(self, req, node_id, fi):
        def work():
            self._on_node(node_id, "open", fi.contents)
            self.nodes.opened(node_id, fi.contents.fh)
            _lib.fuse_reply_open(req, fi)
        self._serve(req, work)

    def _read(self, req, node_id, size, offset, fi):
        def work():
            data = self.operations("read", self._path(node_id), size, offset, fi.contents)
            _lib.fuse_reply_buf(req, data, len(data))
        self._serve(req, work)

    def _write(self, req, node_id, buf, size, offset, fi):
        def work():
            data = ctypes.string_at(buf, size)
            _lib.fuse_reply_write(req, self.operations("write", self._path(node_id), data, offset, fi.contents))
        self._serve(req, work)

    def _on_handle(self, req, node_id, op, *args):
        def work():
            self.operations(op, self._path(node_id), *args)
            _lib.fuse_reply_err(req, 0)
        self._serve(req, work)

    def _flush(self, req, node_id, fi):
        self._on_handle(req, node_id, "flush", fi.contents)

    def _fsync(self, req, node_id, datasync, fi):
        self._on_handle(req, node_id, "fsync", datasync, fi.contents)

    def _fallocate(self, req, node_id, mode, offset, length, fi):
        self._on_handle(req, node_id, "fallocate", mode, offset, length, fi.contents)

    def _release(self, req, node_id, fi):
        def work():
            self.operations("release", self._path(node_id), fi.contents)
            hidden = self.nodes.closed(node_id, fi.contents.fh)
            if hidden is not None:
                self.operations("unlink", self._child(*hidden))
                self.nodes.removed(*hidden)
            _lib.fuse_reply_err(req, 0)
        self._serve(req, work)

    # -- directories -------------------------------------------------------------------------------

    def _opendir(self, req, node_id, fi):
        with self._dir_lock:
            fi.contents.fh = next(self._dir_ids)
            self._dirs[fi.contents.fh] = []
        _lib.fuse_reply_open(req, fi)

    def _readdir(self, req, node_id, size, offset, fi):
        """The listing is read at offset 0 and served from the handle after that; an entry's offset is the
        next one's index."""
        def work():
            fh = fi.contents.fh
            if offset == 0:
                names = self._on_node(node_id, "readdir", fh)
                with self._dir_lock:
                    self._dirs[fh] = names
            with self._dir_lock:
                names = self._dirs.get(fh, [])
            buf = ctypes.create_string_buffer(size)
            used = 0
            st = c_stat(st_ino=UNKNOWN_INO)
            for index in range(offset, len(names)):
                entry = os.fsencode(names[index])
                need = _lib.fuse_add_direntry(req, None, 0, entry, None, 0)
                if used + need > size:
                    break
                _lib.fuse_add_direntry(req, ctypes.addressof(buf) + used, size - used, entry, st, index + 1)
                used += need
            _lib.fuse_reply_buf(req, buf, used)
        self._serve(req, work)

    def _releasedir(self, req, node_id, fi):
        with self._dir_lock:
            self._dirs.pop(fi.contents.fh, None)
        _lib.fuse_reply_err(req, 0)

    def _fsyncdir(self, req, node_id, datasync, fi):
        def work():
            self._on_node(node_id, "fsyncdir", datasync, fi.contents.fh)
            _lib.fuse_reply_err(req, 0)
        self._serve(req, work)


def _join(directory, name):
    """A child's path as the kernel names it: unchecked (the operations refuse a name too long, as POSIX says)."""
    return directory.rstrip("/") + "/" + name


def _time(to_set, given, now_bit, timespec, now):
    """A setattr time in nanoseconds: now, the one given, or None to leave it."""
    if to_set & now_bit:
        return now
    if to_set & given:
        return timespec.tv_sec * 1_000_000_000 + timespec.tv_nsec
    return None


def _option_string(options):
    return ",".join(key if value is True else f"{key}={value}" for key, value in options.items() if value is not False)


def split_options(fuse_options):
    """(the timeouts this bridge answers with, the options for libfuse)."""
    timeouts = {name: float(fuse_options.get(name, default)) for name, default in TIMEOUTS.items()}
    return timeouts, {key: value for key, value in fuse_options.items() if key not in BRIDGE_OPTIONS}


class _Workers:
    """libfuse's multithreaded loop, in Python threads: each reads a request from the kernel and serves it, and one
    more is started when none is left waiting. libfuse's own loop (fuse_session_loop_mt) serves from threads Python
    does not know, so every request made and dropped a Python thread state (mapping and unmapping its frame stack),
    and it ended and started threads as the load went up and down: a tenth of the mount's CPU per small file. These
    threads stay until the loop ends (at most MAX_WORKERS)."""

    def __init__(self, se, chan):
        self._se, self._chan = se, chan
        self._bufsize = _lib.fuse_chan_bufsize(chan)
        self._lock = threading.Lock()
        self._threads = []
        self._waiting = 0  # threads waiting for a request
        self._ended = threading.Event()  # a thread saw the session end (the kernel's unmount)

    def start(self):
        with self._lock:
            self._start()

    def _start(self):
        """Start one more thread (caller holds the lock)."""
        thread = threading.Thread(target=self._work, name=f"dfs-fuse-{len(self._threads)}", daemon=True)
        self._threads.append(thread)
        self._waiting += 1
        thread.start()

    def _work(self):
        memory = ctypes.create_string_buffer(self._bufsize)
        buf, chan = fuse_buf(), ctypes.c_void_p(self._chan)
        while not _lib.fuse_session_exited(self._se):
            buf.size, buf.flags, buf.mem = self._bufsize, 0, ctypes.addressof(memory)
            got = _lib.fuse_session_receive_buf(self._se, buf, ctypes.byref(chan))  # 0 once unmounted or exiting
            if got in (-errno.EINTR, -errno.EAGAIN):
                continue
            if got <= 0:
                if got < 0:
                    _lib.fuse_session_exit(self._se)
                break
            with self._lock:
                self._waiting -= 1
                if not self._waiting and len(self._threads) < MAX_WORKERS:
                    self._start()
            try:
                _lib.fuse_session_process_buf(self._se, buf, chan)
            finally:
                with self._lock:
                    self._waiting += 1
        self._ended.set()

    def run(self):
        """Serve until the session exits (a signal, or the kernel's unmount); then wait for the requests being served
        and wake the threads waiting in read (WAKE, a signal that interrupts it) so they end too."""
        self.start()
        while not _lib.fuse_session_exited(self._se) and not self._ended.wait(EXIT_POLL):
            pass
        previous = signal.signal(WAKE, lambda number, frame: None)
        signal.siginterrupt(WAKE, True)
        try:
            for _ in range(int(WAKE_FOR / EXIT_POLL)):
                with self._lock:
                    alive = [thread for thread in self._threads if thread.is_alive()]
                if not alive:
                    break
                for thread in alive:
                    with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
                        signal.pthread_kill(thread.ident, WAKE)
                alive[0].join(EXIT_POLL)
            else:
                log.warn("FUSE threads still busy after {seconds}s; unmounting anyway", seconds=WAKE_FOR)
        finally:
            signal.signal(WAKE, previous)
        _lib.fuse_session_reset(self._se)


def serve(operations, session, mountpoint, fuse_options):
    """Mount ``mountpoint`` and serve it from threads (see _Workers) until unmounted; then unmount and let the
    operations drain (their ``destroy``). RuntimeError when libfuse cannot mount."""
    timeouts, options = split_options(fuse_options)
    bridge = Bridge(operations, session, timeouts)
    argv = [b"dfs"] + ([b"-o", _option_string(options).encode()] if options else [])
    args = fuse_args(len(argv), (ctypes.c_char_p * len(argv))(*argv), 0)
    target = os.fsencode(mountpoint)
    chan = _lib.fuse_mount(target, ctypes.byref(args))
    if not chan:
        _lib.fuse_opt_free_args(ctypes.byref(args))
        raise RuntimeError("fuse_mount failed")
    se = _lib.fuse_lowlevel_new(ctypes.byref(args), ctypes.byref(bridge.ops), ctypes.sizeof(bridge.ops), None)
    _lib.fuse_opt_free_args(ctypes.byref(args))
    if not se:
        _lib.fuse_unmount(target, chan)
        raise RuntimeError("fuse_lowlevel_new failed")
    # libfuse installs its handlers only over the default ones; Python's SIGINT handler would keep its own out.
    previous = signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        _lib.fuse_set_signal_handlers(se)
        _lib.fuse_session_add_chan(se, chan)
        session._se = se
        _Workers(se, chan).run()
        _lib.fuse_remove_signal_handlers(se)
        _lib.fuse_unmount(target, chan)  # takes the channel out of the session
        _lib.fuse_session_destroy(se)  # calls destroy
    finally:
        session._se = None
        signal.signal(signal.SIGINT, previous)
