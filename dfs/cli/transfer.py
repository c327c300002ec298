"""Commands that move bytes: put, get, cat, tee, tail. Streams in bounded chunks, so memory stays flat."""

import argparse
import os
import posixpath
import stat as modes
import tempfile
import time
from dataclasses import dataclass, field

from dfs.cli.errors import FAILED, OK, Failure, Usage, about, failure
from dfs.cli.formatting import add_at_option, is_dir
from dfs.errors import DFSError

CHUNK = 1024 * 1024
_SIZE_SUFFIXES = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def register(commands):
    p = commands.add("put", put, "copy local files to dfs (`-` reads stdin); DEST defaults to the working directory",
                     description="Copy local files to dfs. With several sources, or when DEST is a directory, each "
                                 "lands inside DEST.\nAn existing target file is refused unless -f is given; a missing "
                                 "parent directory unless --parents is; an interrupted put leaves the previous version "
                                 "intact.")
    p.add_argument("-r", "-R", dest="recursive", action="store_true", help="copy directories")
    p.add_argument("-f", dest="force", action="store_true", help="overwrite existing files")
    p.add_argument("-p", dest="preserve", action="store_true",
                   help="preserve the files' modification and access times and permission bits")
    p.add_argument("--parents", action="store_true", help="create missing parent directories of DEST")
    p.add_argument("--replication", type=int, metavar="N", help="replicas of each block (default: the cluster's)")
    p.add_argument("--block-size", type=parse_size, metavar="SIZE", help="block size such as 64M (default: the "
                                                                          "cluster's)")
    p.add_argument("paths", nargs="+", metavar="LOCAL... [DEST]")

    p = commands.add("get", get, "copy dfs files to the local disk (`-` writes stdout); LOCAL defaults to .")
    p.add_argument("-r", "-R", dest="recursive", action="store_true", help="copy directories")
    p.add_argument("-f", dest="force", action="store_true", help="overwrite existing local files")
    add_at_option(p)
    p.add_argument("paths", nargs="+", metavar="PATH... [LOCAL]")

    p = commands.add("cat", cat, "write files to stdout")
    add_at_option(p)
    p.add_argument("paths", nargs="+", metavar="PATH")

    p = commands.add("tee", tee, "copy stdin to a dfs file and to stdout")
    p.add_argument("-a", dest="append", action="store_true", help="append instead of replacing the file")
    p.add_argument("path", metavar="PATH")

    p = commands.add("tail", tail, "show the end of a file (the last KiB)")
    p.add_argument("-f", dest="follow", action="store_true", help="keep printing data as the file grows")
    p.add_argument("-c", dest="bytes", type=parse_size, default=1024, metavar="BYTES",
                   help="how much of the end to show (default 1K)")
    p.add_argument("-s", dest="interval", type=float, default=1.0, metavar="SECONDS",
                   help="with -f, how often to look for new data (default 1)")
    p.add_argument("path", metavar="PATH")


def parse_size(text):
    """'65536', '64K', '64M', '1G' -> bytes."""
    number, suffix = text.strip(), ""
    if number and number[-1].lower() in "kmgt":
        number, suffix = number[:-1], number[-1].lower()
    try:
        value = int(number) * _SIZE_SUFFIXES[suffix]
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"not a size: {text!r}")
    return value


@dataclass
class Plan:
    """What a recursive transfer will do: directories to create, then (source, target, size) files."""

    directories: list = field(default_factory=list)
    files: list = field(default_factory=list)
    skipped: int = 0

    @property
    def total(self):
        return sum(size for _, _, size in self.files)


def _split_target(args, default):
    if len(args.paths) == 1:
        return args.paths, default
    return args.paths[:-1], args.paths[-1]


# -- put ------------------------------------------------------------------------------------------------------------

def put(session, args):
    sources, dest_text = _split_target(args, None)
    if "-" in sources:
        if len(sources) > 1:
            raise Usage("- (stdin) must be the only source")
        if dest_text is None:
            raise Usage("name the target path: put - DEST")
        return _put_stdin(session, args, dest_text)
    dest_text = dest_text or "."
    dest = session.path(dest_text)
    dest_status = session.lookup(dest, dest_text)
    into = dest_status is not None and is_dir(dest_status)
    if len(sources) > 1 and not into:
        raise Failure(dest_text, "Not a directory" if dest_status else "No such file or directory")
    plan = Plan()
    status = session.each("put", sources, lambda src: _plan_upload(session, args, src, dest, into, plan))
    status = max(status, _upload(session, args, plan))
    return max(status, FAILED if plan.skipped else OK)


def _plan_upload(session, args, source, dest, into, plan):
    if not os.path.lexists(source):
        raise Failure(source, "No such file or directory")
    target = session.path(posixpath.join(dest, os.path.basename(os.path.abspath(source)))) if into else dest
    if not os.path.isdir(source):
        plan.files.append((source, target, _regular_size(source)))
        return
    if not args.recursive:
        raise Failure(source, "Is a directory (use -r)")
    if not (into or args.parents):
        _require_directory(session, posixpath.dirname(target), target)
    plan.directories.append(target)

    def skip(path, reason):
        session.complain("put", path, reason)
        plan.skipped += 1

    for root, directories, files in os.walk(source, onerror=lambda error: skip(error.filename, error.strerror)):
        relative = os.path.relpath(root, source)
        remote_root = target if relative == "." else posixpath.join(target, *relative.split(os.sep))
        for name in sorted(directories):
            if os.path.islink(os.path.join(root, name)):
                skip(os.path.join(root, name), "symbolic link to a directory, not followed")
                continue
            plan.directories.append(session.path(posixpath.join(remote_root, name)))
        for name in sorted(files):
            local = os.path.join(root, name)
            try:
                plan.files.append((local, session.path(posixpath.join(remote_root, name)), _regular_size(local)))
            except Failure as f:
                skip(f.path, f.reason)


def _require_directory(session, path, text):
    """A Failure naming ``text`` unless the directory ``path`` exists (as `hdfs dfs -put` answers)."""
    status = session.lookup(path, text)
    if status is None:
        raise Failure(text, "No such file or directory")
    if not is_dir(status):
        raise Failure(text, "Not a directory")


def _preserved(local):
    """The upload arguments that keep a local file's times (in ms) and permission bits, as `put -p` does."""
    with about(local):
        info = os.stat(local)
    return {"mtime": int(info.st_mtime * 1000), "atime": int(info.st_atime * 1000),
            "permission": modes.S_IMODE(info.st_mode)}


def _regular_size(local):
    with about(local):
        info = os.stat(local)
    if not modes.S_ISREG(info.st_mode):
        raise Failure(local, "not a regular file (pipe it in with `put - DEST`)")
    return info.st_size


def _upload(session, args, plan):
    for directory in plan.directories:
        with about(directory):
            session.client.mkdir(directory, parents=True)

    def send(item):
        local, remote, size = item
        on_bytes = progress.start(local)
        with about(local):
            source = open(local, "rb")
        kept = _preserved(local) if args.preserve else {}
        with source, about(remote):
            session.client.upload(remote, source, overwrite=args.force, replication=args.replication,
                                  block_size=args.block_size, progress=on_bytes, parents=args.parents, **kept)
            if kept:  # the umask took bits off the mode at creation; -p keeps the local one (Hadoop sets it after)
                session.client.chmod(remote, kept["permission"])
        progress.end(size)

    with session.progress(plan.total, len(plan.files)) as progress:
        return session.each("put", plan.files, send)


def _put_stdin(session, args, dest_text):
    dest = session.path(dest_text)
    status = session.lookup(dest, dest_text)
    if status is not None and is_dir(status):
        raise Failure(dest_text, "Is a directory")
    with _uploadable(session.stdin.buffer) as source, about(dest_text):
        session.client.upload(dest, source, overwrite=args.force, replication=args.replication,
                              block_size=args.block_size, parents=args.parents)


def _uploadable(stream, echo=None):
    """A file object the client can upload: ``stream`` itself when it is a regular file, else a spooled copy.

    The client needs seek/tell to size its request body: a pipe makes ``Client.upload`` fail with ESPIPE, so pipes
    are copied to a temporary file first (on disk, so memory stays flat). ``echo`` receives every chunk on the way.
    """
    if echo is None and _seekable(stream):
        return _Borrowed(stream)
    spool = tempfile.TemporaryFile(prefix="dfs-stdin-")
    try:
        while chunk := stream.read(CHUNK):
            spool.write(chunk)
            if echo is not None:
                echo = _echo(echo, chunk)
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    return spool


def _echo(write, chunk):
    """Pass ``chunk`` on; once the reader has gone (tee into ``head``), stop echoing but keep storing."""
    try:
        write(chunk)
        return write
    except BrokenPipeError:
        return None


def _seekable(stream):
    try:
        return stream.seekable()
    except (AttributeError, OSError, ValueError):
        return False


class _Borrowed:
    """A stream used as a context manager without being closed (stdin belongs to the process)."""

    def __init__(self, stream):
        self.stream = stream

    def __enter__(self):
        return self.stream

    def __exit__(self, *exc):
        return False


# -- get ------------------------------------------------------------------------------------------------------------

def get(session, args):
    sources, local = _split_target(args, ".")
    if "-" in sources:
        raise Usage("- (stdout) is the target, not a source: get PATH -")
    if local == "-":
        if args.recursive:
            raise Usage("get -r cannot write to stdout")
        return _send_to_stdout(session, "get", sources, progress=True, at=args.at)
    into = os.path.isdir(local)
    if len(sources) > 1 and not into:
        raise Failure(local, "Not a directory" if os.path.lexists(local) else "No such file or directory")
    plan = Plan()
    status = session.each("get", sources, lambda src: _plan_download(session, args, src, local, into, plan))
    return max(status, _download(session, args, plan))


def _plan_download(session, args, text, local, into, plan):
    path = session.path(text)
    status = session.lookup(path, text, args.at)
    if status is None:
        raise Failure(text, "No such file or directory")
    name = posixpath.basename(path)
    target = os.path.join(local, name) if into and name else local
    if not is_dir(status):
        plan.files.append((path, target, status.get("length", 0)))
        return
    if not args.recursive:
        raise Failure(text, "Is a directory (use -r)")
    with about(text):
        tree = session.client.walk(path, args.at)
    for directory, _, files in tree:
        relative = posixpath.relpath(directory, path)
        local_dir = target if relative == "." else os.path.join(target, *relative.split("/"))
        plan.directories.append(local_dir)
        for entry in files:
            plan.files.append((posixpath.join(directory, entry["pathSuffix"]),
                               os.path.join(local_dir, entry["pathSuffix"]), entry.get("length", 0)))


def _download(session, args, plan):
    mode = 0o666 & ~_umask()

    def make(directory):
        with about(directory):
            os.makedirs(directory, exist_ok=True)

    status = session.each("get", plan.directories, make)

    def fetch(item):
        remote, local, size = item
        if os.path.isdir(local):
            raise Failure(local, "Is a directory")
        if os.path.lexists(local) and not args.force:
            raise Failure(local, "File exists (use -f to overwrite)")
        on_bytes = progress.start(remote)
        try:
            session.client.download(remote, local, progress=on_bytes, at=args.at)
        except DFSError as e:
            raise session.file_failure(e, remote, remote) from None
        except BrokenPipeError:
            raise
        except OSError as e:
            raise failure(e, local) from None
        # The client writes through mkstemp, which makes the file private; give it the usual umask mode.
        with about(local):
            os.chmod(local, mode)
        progress.end(size)

    with session.progress(plan.total, len(plan.files)) as progress:
        return max(status, session.each("get", plan.files, fetch))


def _umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# -- stdout and stdin -----------------------------------------------------------------------------------------------

def cat(session, args):
    return _send_to_stdout(session, "cat", args.paths, at=args.at)


def _send_to_stdout(session, command, texts, progress=False, at=None):
    session.stdout.flush()
    out = session.stdout.buffer

    def send(text):
        path = session.path(text)
        size = 0
        if progress:
            status = session.lookup(path, text, at)
            size = status.get("length", 0) if status else 0
        with session.progress(size, 1, enabled=progress) as bar:
            try:
                session.client.read_to(path, out.write, progress=bar.start(text), at=at)
            except DFSError as e:
                raise session.file_failure(e, path, text) from None
            bar.end(size)
        out.flush()

    return session.each(command, texts, send)


def tee(session, args):
    path = session.path(args.path)
    status = session.lookup(path, args.path)
    if status is not None and is_dir(status):
        raise Failure(args.path, "Is a directory")
    session.stdout.flush()
    out = session.stdout.buffer

    def echo(chunk):
        out.write(chunk)
        out.flush()

    with _uploadable(session.stdin.buffer, echo=echo) as source, about(args.path):
        if args.append and status is not None:
            session.client.append(path, source)
        else:
            session.client.upload(path, source, overwrite=True, parents=False)


def tail(session, args):
    path = session.path(args.path)
    length = _file_length(session, path, args.path)
    session.stdout.flush()
    out = session.stdout.buffer

    def write(data):
        out.write(data)
        out.flush()

    def show(start, end):
        if end > start:
            try:
                session.client.read_to(path, write, offset=start, length=end - start)
            except DFSError as e:
                raise session.file_failure(e, path, args.path) from None

    show(max(0, length - args.bytes), length)
    position = length
    while args.follow:
        time.sleep(args.interval)
        length = _file_length(session, path, args.path)
        if length < position:
            session.complain("tail", args.path, "file truncated")
            position = 0
        show(position, length)
        position = length


def _file_length(session, path, text):
    status = session.lookup(path, text)
    if status is None:
        raise Failure(text, "No such file or directory")
    if is_dir(status):
        raise Failure(text, "Is a directory")
    return status.get("length", 0)
