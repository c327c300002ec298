"""`dfs mount`: its arguments, the checks before mounting, detaching, and serving the kernel's requests."""

import argparse
import errno
import os
import select
import shutil
import signal
import stat
import sys
import tempfile
import threading
from typing import NamedTuple
from urllib.parse import urlsplit

from twisted.logger import (
    FilteringLogObserver,
    LogLevel,
    LogLevelFilterPredicate,
    Logger,
    globalLogBeginner,
    textFileLogObserver,
)

from dfs.client import BlockingClient
from dfs.errors import DFSError
from dfs.fuse.operations import DFSOperations

try:
    from dfs.fuse import lowlevel
except (OSError, ModuleNotFoundError) as e:  # fusepy raises OSError when it cannot find libfuse
    lowlevel, FUSE_MISSING = None, e
else:
    FUSE_MISSING = None

log = Logger()

DEFAULT_PORT = 8180
READY_TIMEOUT = 60
# libfuse 2 and the kernel cap a request at 128 KiB (32 pages); big_writes lets writes reach that size.
FUSE_DEFAULTS = {
    "big_writes": True, "max_read": 131072, "max_write": 131072,
    # open(O_TRUNC) arrives as one open instead of a truncate then an open.
    "atomic_o_trunc": True,
    "subtype": "dfs",
    # Files on the cluster keep setuid and setgid bits, and special files their device numbers, as metadata: anyone
    # who can claim to be its superuser can set them, so no host may honour them (docs/permissions.md).
    "nosuid": True, "nodev": True,
}
# The options that would honour them, refused.
UNSAFE_OPTIONS = ("suid", "dev")
DFS_OPTIONS = {"cache_size", "cache_dir", "connect_timeout", "read_timeout", "per_user", "writeback"}
SWITCH = {"yes": True, "on": True, "1": True, "no": False, "off": False, "0": False}


class MountError(Exception):
    """A problem the user can fix, reported as one line."""


def add_mount_arguments(parser):
    parser.add_argument("mountpoint", help="an empty directory to mount the cluster on")
    parser.add_argument("host", nargs="?", help="namenode host (the original `dfs.py mount_point host [port]` form)")
    parser.add_argument("port", nargs="?", type=int, help=f"namenode port (default {DEFAULT_PORT})")
    parser.add_argument("--namenode", metavar="URL", default=argparse.SUPPRESS,
                        help="namenode URL, or a comma-separated list tried in turn (default: http://HOST:PORT, "
                             "else $DFS_NAMENODE_URL, the config file, http://127.0.0.1:8180)")
    parser.add_argument("--token", default=argparse.SUPPRESS,
                        help="token for a cluster that requires one (default: $DFS_TOKEN or the config file)")
    parser.add_argument("-f", "--foreground", action="store_true",
                        help="stay in the foreground (default: detach once the mount is live)")
    parser.add_argument("-o", dest="options", action="append", metavar="OPT[,OPT...]",
                        help="mount options: FUSE's (allow_other, ro, attr_timeout=SECONDS, debug, ...) and dfs's "
                             "cache_size=MiB (block cache, default 1024), cache_dir=DIR, connect_timeout=SECONDS "
                             "and read_timeout=SECONDS (default 10 and 60: an operation the cluster does not answer "
                             "fails with EIO after that), per_user[=no] (each request acts as its caller; default: "
                             "on with allow_other; implies default_permissions), writeback[=no] (close returns before "
                             "the upload, which then happens in the background; fsync still waits for it)")


def namenode_url(args):
    """--namenode, else http://HOST:PORT, else None (the client resolves the environment and config file)."""
    url = getattr(args, "namenode", None)
    if url:
        return url
    if args.host:
        return args.host if "://" in args.host else f"http://{args.host}:{args.port or DEFAULT_PORT}"
    return None


def parse_options(values):
    """-o values into (FUSE options, dfs options); a bare name is a flag."""
    fuse_options, dfs_options = dict(FUSE_DEFAULTS), {}
    for value in values or ():
        for item in filter(None, value.split(",")):
            key, has_value, setting = item.partition("=")
            (dfs_options if key in DFS_OPTIONS else fuse_options)[key] = setting if has_value else True
    return fuse_options, dfs_options


class Plan(NamedTuple):
    """Everything a mount needs, checked before anything is started."""

    mountpoint: str
    namenode: str | None
    token: str | None
    user: str | None  # the mount's own user.name (None: $DFS_USER, the config file, the login name)
    fuse_options: dict
    cache_dir: str | None
    cache_bytes: int
    ttl: float
    timeouts: tuple  # (connect, read) seconds, None for the client's configured ones
    per_user: bool  # each request acts for its caller (the namenode must let the mount's user impersonate)
    writeback: bool  # close returns before the upload (fsync still waits)


def plan(args):
    fuse_options, dfs_options = parse_options(args.options)
    for unsafe in UNSAFE_OPTIONS:
        if unsafe in fuse_options:
            raise MountError(f"-o {unsafe} is refused: a dfs mount is always nosuid and nodev (whoever may claim to "
                             "be the cluster's superuser could otherwise make a setuid program or a device on it)")
    try:
        cache_bytes = int(dfs_options.get("cache_size", 1024)) << 20
        ttl = float(fuse_options.get("attr_timeout", 1.0))
        timeouts = tuple(None if dfs_options.get(name) is None else float(dfs_options[name])
                         for name in ("connect_timeout", "read_timeout"))
    except ValueError:
        raise MountError("cache_size takes a number of MiB; attr_timeout, connect_timeout and read_timeout a number "
                         "of seconds") from None
    per_user = _switch(dfs_options, "per_user", bool(fuse_options.get("allow_other")))
    writeback = _switch(dfs_options, "writeback", False)
    if per_user:  # the kernel checks each caller too, against the attributes every caller shares
        fuse_options.setdefault("default_permissions", True)
    cache_dir = dfs_options.get("cache_dir")
    if cache_dir is not None and not os.path.isdir(cache_dir):
        raise MountError(f"cache_dir {cache_dir} is not a directory")
    return Plan(check_mountpoint(args.mountpoint, fuse_options), namenode_url(args), getattr(args, "token", None),
                getattr(args, "user", None), fuse_options, cache_dir, cache_bytes, ttl, timeouts, per_user, writeback)


def _switch(dfs_options, name, default):
    """A yes/no option: a bare name is yes."""
    value = dfs_options.get(name, default)
    if isinstance(value, bool):
        return value
    if value not in SWITCH:
        raise MountError(f"{name} takes yes or no, not {value!r}")
    return SWITCH[value]


def run_mount(args):
    """Mount, then serve until unmounted (foreground) or return once the mount is live (detached). Exit status."""
    try:
        check_fuse()
        mount = plan(args)
        if args.foreground:
            return serve(mount)
        return detach(mount)
    except MountError as e:
        print(f"dfs mount: {e}", file=sys.stderr)
        return 1


def check_fuse():
    if isinstance(FUSE_MISSING, ModuleNotFoundError):
        raise MountError("FUSE support needs fusepy: pip install 'dfs[fuse]'")
    if lowlevel is None:
        raise MountError(f"FUSE is not usable ({FUSE_MISSING}); install libfuse 2 "
                         "(Debian/Ubuntu: apt-get install fuse libfuse2)")
    if not os.path.exists("/dev/fuse"):
        raise MountError("/dev/fuse is missing: load the kernel module (modprobe fuse), "
                         "or give the container the device (--device /dev/fuse --cap-add SYS_ADMIN)")
    if os.geteuid() != 0 and shutil.which("fusermount") is None:
        raise MountError("fusermount is missing: install the fuse package")


def check_mountpoint(path, fuse_options):
    mountpoint = os.path.abspath(path)
    try:
        st = os.stat(mountpoint)
    except FileNotFoundError:
        raise MountError(f"{mountpoint} does not exist") from None
    except OSError as e:
        if e.errno == errno.ENOTCONN:
            raise MountError(f"{mountpoint} is a mount whose process died; run: fusermount -u {mountpoint}") from None
        raise MountError(f"{mountpoint}: {e.strerror}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise MountError(f"{mountpoint} is not a directory")
    if os.path.ismount(mountpoint):
        raise MountError(f"{mountpoint} is already a mount point")
    if os.listdir(mountpoint) and not fuse_options.get("nonempty"):
        raise MountError(f"{mountpoint} is not empty (add -o nonempty to mount over its contents)")
    return mountpoint


def serve(mount, on_ready=None):
    """Connect, mount, and serve the kernel's requests from threads (dfs.fuse.lowlevel) until unmounted, this (main)
    thread waiting for the end; the reactor runs in a daemon thread behind the BlockingClient. libfuse turns SIGINT,
    SIGTERM and SIGHUP into a clean unmount."""
    _log_to_stderr()
    try:
        # umask 0: the kernel has already applied the caller's umask to the modes the mount sends.
        client = BlockingClient(mount.namenode, mount.token, user=mount.user, umask=0,
                                connect_timeout=mount.timeouts[0], read_timeout=mount.timeouts[1])
    except DFSError as e:
        raise MountError(e.message) from None
    try:
        client.stat("/")
    except DFSError as e:
        raise MountError(f"cannot use the cluster at {client.namenode_url}: {e.message}") from None
    fuse_options = dict(mount.fuse_options)
    fuse_options.setdefault("fsname", "dfs@" + (urlsplit(client.namenode_url).netloc or client.namenode_url))
    workdir = tempfile.mkdtemp(prefix="dfs-mount-", dir=mount.cache_dir)
    try:
        session = lowlevel.Session()
        operations = DFSOperations(
            client, workdir, ttl=mount.ttl, cache_bytes=mount.cache_bytes,
            on_ready=lambda: _mounted(client.namenode_url, mount.mountpoint, on_ready), session=session,
            context=lowlevel.context if mount.per_user else None, writeback=mount.writeback,
        )
        client.give_up = operations.give_up
        lowlevel.serve(operations, session, mount.mountpoint, fuse_options)
    except RuntimeError:
        raise MountError(f"could not mount on {mount.mountpoint} (libfuse's reason is above)") from None
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        client.close()
    log.info("dfs unmounted from {mountpoint}", mountpoint=mount.mountpoint)
    return 0


def _log_to_stderr():
    """Warnings and errors, plus this module's mount and unmount lines; not the HTTP pool's chatter."""
    levels = LogLevelFilterPredicate(defaultLogLevel=LogLevel.warn)
    levels.setLogLevelForNamespace(__name__, LogLevel.info)
    observer = FilteringLogObserver(textFileLogObserver(sys.stderr), [levels])
    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)


def _mounted(url, mountpoint, on_ready):
    """Say so in the foreground; a detached mount tells the waiting parent instead, which exits quietly."""
    if on_ready is None:
        log.info("dfs mounted {url} on {mountpoint}", url=url, mountpoint=mountpoint)
    else:
        on_ready()


def detach(mount):
    """Fork; the child mounts and serves, the parent returns 0 once the mount is live (or 1 with the child's
    reason). The fork comes before the client exists: the reactor thread would not survive it."""
    if threading.active_count() > 1:
        raise MountError("this process already runs threads and cannot detach safely; mount with -f")
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid:
        os.close(write_end)
        return _wait_until_mounted(pid, read_end)
    os.close(read_end)
    os.setsid()
    os.chdir("/")
    status = 1
    try:
        status = serve(mount, on_ready=lambda: _report_ready(write_end))
    except MountError as e:
        _report(write_end, f"{e}\n")
    except BaseException as e:
        _report(write_end, f"{type(e).__name__}: {e}\n")
    finally:
        os._exit(status)


def _report_ready(write_end):
    """Tell the waiting parent, then let go of its terminal."""
    _report(write_end, "ok\n")
    os.close(write_end)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)


def _report(fd, message):
    try:
        os.write(fd, message.encode())
    except OSError:
        pass


def _wait_until_mounted(pid, read_end):
    with os.fdopen(read_end, "rb") as pipe:
        readable, _, _ = select.select([pipe], [], [], READY_TIMEOUT)
        message = pipe.readline().decode(errors="replace").strip() if readable else ""
    if message == "ok":
        return 0
    if not readable:
        os.kill(pid, signal.SIGTERM)
        message = f"the mount did not come up within {READY_TIMEOUT}s"
    os.waitpid(pid, 0)
    raise MountError(message or "the mount process exited before mounting")

