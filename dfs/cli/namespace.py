"""Commands on names and metadata: ls, stat, mkdir, rmdir, touch, rm, mv, cp, ln, du, checksum, setrep, test."""

import posixpath
import time

from dfs.cli.admin import WAIT_LIMIT
from dfs.cli.errors import FAILED, OK, Failure, about, failure
from dfs.cli.formatting import add_at_option, is_dir, long_row, mode_string, size, table, to_json, when_precise
from dfs.errors import DFSError, FileNotFound


def register(commands):
    p = commands.add("ls", ls, "list directories (a file lists as itself)", human=True)
    p.add_argument("-l", dest="long", action="store_true", help="long format: mode, replication, owner, group, "
                                                                "size, modification time")
    p.add_argument("-R", dest="recursive", action="store_true", help="list subdirectories recursively (full paths)")
    p.add_argument("-d", dest="directory", action="store_true", help="list directories themselves, not contents")
    p.add_argument("--json", action="store_true", help="print FileStatus objects as JSON")
    add_at_option(p)
    p.add_argument("paths", nargs="*", metavar="PATH")

    p = commands.add("stat", stat, "show a file's or directory's metadata")
    p.add_argument("--json", action="store_true", help="print the FileStatus as JSON (a list for several paths)")
    p.add_argument("paths", nargs="+", metavar="PATH")

    p = commands.add("mkdir", mkdir, "create directories")
    p.add_argument("-p", dest="parents", action="store_true", help="create parents; no error if it exists")
    p.add_argument("paths", nargs="+", metavar="PATH")

    p = commands.add("rmdir", rmdir, "remove empty directories")
    p.add_argument("paths", nargs="+", metavar="PATH")

    p = commands.add("touch", touch, "create empty files, or set existing ones' times to now")
    p.add_argument("paths", nargs="+", metavar="PATH")

    p = commands.add("rm", rm, "remove files (and directories with -r): into your trash when the namenode keeps "
                               "trash (`dfs trash` lists and restores)")
    p.add_argument("-r", "-R", dest="recursive", action="store_true", help="remove directories and their contents")
    p.add_argument("-f", dest="force", action="store_true", help="no error when a path does not exist")
    p.add_argument("--skip-trash", "-skipTrash", dest="skip_trash", action="store_true",
                   help="delete at once instead of moving to your trash; the namenode's history "
                        "(--history-retention, `dfs ls --at`) still keeps the bytes until its window passes or "
                        "`dfs admin purge`")
    p.add_argument("paths", nargs="+", metavar="PATH")

    p = commands.add("mv", mv, "move or rename; into DEST when it is a directory")
    p.add_argument("paths", nargs="+", metavar="SRC... DEST")

    p = commands.add("cp", cp, "copy on the server (no bytes move: the copy shares the source's blocks)")
    p.add_argument("-r", "-R", dest="recursive", action="store_true", help="copy directories")
    p.add_argument("-f", dest="force", action="store_true", help="replace an existing target file")
    p.add_argument("paths", nargs="+", metavar="SRC... DEST")

    p = commands.add("ln", ln, "make a link: LINK names TARGET (-s: a symlink holding TARGET as given)")
    p.add_argument("-s", dest="symbolic", action="store_true", help="make a symbolic link (else a hard link)")
    p.add_argument("target", metavar="TARGET")
    p.add_argument("link", metavar="LINK")

    p = commands.add("du", du, "space used: size and space consumed with all replicas", human=True)
    p.add_argument("-s", dest="summary", action="store_true", help="one total per argument")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("paths", nargs="*", metavar="PATH")

    p = commands.add("checksum", checksum, "SHA-256 of files (the same as sha256sum of a local copy)")
    p.add_argument("paths", nargs="+", metavar="PATH")

    p = commands.add("setrep", setrep, "set the replication factor (of every file below a directory)")
    p.add_argument("-w", "--wait", action="store_true",
                   help="return when every block of each file is read from N datanodes (as hdfs dfs -setrep -w)")
    p.add_argument("replication", type=int, metavar="N")
    p.add_argument("paths", nargs="+", metavar="PATH")

    p = commands.add("test", test, "answer by exit code: 0 yes, 1 no")
    which = p.add_mutually_exclusive_group(required=True)
    for flag, meaning in [("-e", "the path exists"), ("-d", "it is a directory"), ("-f", "it is a file"),
                          ("-s", "it is a file that is not empty"), ("-z", "it is a file of zero length")]:
        which.add_argument(flag, dest="check", action="store_const", const=flag[1], help=meaning)
    p.add_argument("path", metavar="PATH")


# -- listing --------------------------------------------------------------------------------------------------------

def ls(session, args):
    targets = args.paths or ["."]
    shown = []

    def show(text):
        path = session.path(text)
        with about(text):
            if args.directory:
                status = session.client.stat(path, args.at)
                entries, listing_a_file = [dict(status, pathSuffix="")], True
            else:
                entries = session.client.ls(path, args.at)
                listing_a_file = len(entries) == 1 and entries[0]["pathSuffix"] == "" and not is_dir(entries[0])
        if listing_a_file:
            _emit(session, args, [(text, path, entries[0])], shown)
            return
        if len(targets) > 1 and not args.recursive and not args.json:
            if shown:
                print(file=session.stdout)
            print(f"{text}:", file=session.stdout)
        _list_directory(session, args, path, entries, shown)

    status = session.each("ls", targets, show)
    if args.json:
        print(to_json(shown), file=session.stdout)
    return status


def _list_directory(session, args, path, entries, shown):
    entries = sorted(entries, key=lambda e: e["pathSuffix"])
    rows = []
    for entry in entries:
        full = posixpath.join(path, entry["pathSuffix"])
        rows.append((full if args.recursive else entry["pathSuffix"], full, entry))
    _emit(session, args, rows, shown)
    if args.recursive:
        for entry in entries:
            if is_dir(entry):
                child = posixpath.join(path, entry["pathSuffix"])
                with about(child):
                    children = session.client.ls(child, args.at)
                _list_directory(session, args, child, children, shown)


def _emit(session, args, rows, shown):
    """Print (or, with --json, collect) rows of (shown name, full path, FileStatus)."""
    if args.json:
        shown.extend(dict(status, path=full) for _, full, status in rows)
        return
    shown.extend(rows)
    if args.long:
        text = table([long_row(status, name, args.human) for name, _, status in rows], right={1, 4})
    else:
        text = "\n".join(name for name, _, _ in rows)
    if text:
        print(text, file=session.stdout, flush=True)


def stat(session, args):
    found = []

    def show(text):
        path = session.path(text)
        with about(text):
            status = dict(session.client.stat(path), path=path)
        if args.json:
            found.append(status)
            return
        if found:
            print(file=session.stdout)
        found.append(status)
        print(_describe(status), file=session.stdout)

    result = session.each("stat", args.paths, show)
    if args.json and found:
        print(to_json(found[0] if len(args.paths) == 1 else found), file=session.stdout)
    return result


def _describe(status):
    kind = "directory" if is_dir(status) else "file"
    lines = [("Path", status["path"]), ("Type", kind), ("Size", str(status.get("length", 0)))]
    if is_dir(status):
        lines.append(("Entries", str(status.get("childrenNum", 0))))
    else:
        lines += [("Replication", str(status.get("replication"))), ("Block size", str(status.get("blockSize")))]
    lines += [
        ("Permission", f"{mode_string(status)} ({status.get('permission')})"),
        ("Owner", status.get("owner", "")),
        ("Group", status.get("group", "")),
        ("Modified", when_precise(status.get("modificationTime"))),
        ("Accessed", when_precise(status.get("accessTime"))),
    ]
    return "\n".join(f"{name + ':':<13}{value}" for name, value in lines)


def du(session, args):
    targets = args.paths or ["."]
    rows, found = [], []

    def summarize(text, path):
        with about(text):
            summary = session.client.du(path)
        found.append(dict(summary, path=path))
        rows.append([size(summary["length"], args.human), size(summary["spaceConsumed"], args.human), text])

    def measure(text):
        path = session.path(text)
        if args.summary:
            summarize(text, path)
            return
        with about(text):
            entries = session.client.ls(path)
        if len(entries) == 1 and entries[0]["pathSuffix"] == "" and not is_dir(entries[0]):
            summarize(text, path)
            return
        for entry in sorted(entries, key=lambda e: e["pathSuffix"]):
            child = posixpath.join(path, entry["pathSuffix"])
            summarize(child, child)

    status = session.each("du", targets, measure)
    if args.json:
        print(to_json(found), file=session.stdout)
    elif rows:
        print(table(rows, right={0, 1}), file=session.stdout)
    return status


# -- changes --------------------------------------------------------------------------------------------------------

def mkdir(session, args):
    def make(text):
        with about(text):
            session.client.mkdir(session.path(text), parents=args.parents)
    return session.each("mkdir", args.paths, make)


def rmdir(session, args):
    def remove(text):
        with about(text):
            session.client.rmdir(session.path(text))
    return session.each("rmdir", args.paths, remove)


def touch(session, args):
    def touch_one(text):
        with about(text):
            session.client.touch(session.path(text), parents=False)
    return session.each("touch", args.paths, touch_one)


def rm(session, args):
    def remove(text):
        path = session.path(text)
        status = session.lookup(path, text)
        if status is None:
            if args.force:
                return
            raise Failure(text, "No such file or directory")
        if is_dir(status) and not args.recursive:
            raise Failure(text, "Is a directory (use -r)")
        try:
            moved = session.client.remove(path, recursive=args.recursive, skip_trash=args.skip_trash)
        except FileNotFound:
            if args.force:
                return
            raise Failure(text, "No such file or directory") from None
        except DFSError as e:
            raise failure(e, text) from None
        if moved:
            print(f"Moved: '{path}' to trash at: {moved}", file=session.stdout)
    return session.each("rm", args.paths, remove)


def _sources_and_target(session, command, paths):
    """SRC... DEST: the sources, the target text and path; several sources need an existing directory DEST."""
    if len(paths) < 2:
        raise Failure(paths[0] if paths else None, "missing destination operand", status=2)
    *sources, dest_text = paths
    dest = session.path(dest_text)
    if len(sources) > 1:
        status = session.lookup(dest, dest_text)
        if status is None:
            raise Failure(dest_text, "No such file or directory")
        if not is_dir(status):
            raise Failure(dest_text, "Not a directory")
    return sources, dest_text, dest


def _blame(session, error, src, src_text, dest_text):
    """A failed rename or copy names the source when it is missing, else the destination."""
    if isinstance(error, FileNotFound) and session.lookup(src, src_text) is None:
        return failure(error, src_text)
    return failure(error, dest_text)


def mv(session, args):
    sources, dest_text, dest = _sources_and_target(session, "mv", args.paths)

    def move(text):
        src = session.path(text)
        try:
            session.client.mv(src, dest)
        except DFSError as e:
            raise _blame(session, e, src, text, dest_text) from None
    return session.each("mv", sources, move)


def cp(session, args):
    sources, dest_text, dest = _sources_and_target(session, "cp", args.paths)

    def copy(text):
        src = session.path(text)
        if not args.recursive:
            status = session.lookup(src, text)
            if status is None:
                raise Failure(text, "No such file or directory")
            if is_dir(status):
                raise Failure(text, "Is a directory (use -r)")
        try:
            session.client.cp(src, dest, overwrite=args.force)
        except DFSError as e:
            raise _blame(session, e, src, text, dest_text) from None
    return session.each("cp", sources, copy)


def ln(session, args):
    """As ln(1) with exactly two operands: a symlink keeps TARGET's text (a relative one is relative to LINK's
    directory when followed); a hard link's TARGET is a dfs path."""
    link = session.path(args.link)
    with about(args.link):
        if args.symbolic:
            session.client.symlink(args.target, link, create_parent=False)
        else:
            session.client.link(session.path(args.target), link)
    return OK


def setrep(session, args):
    if args.replication < 1:
        raise Failure(None, f"replication must be at least 1, not {args.replication}", status=2)

    def set_one(text):
        path = session.path(text)
        status = session.lookup(path, text)
        if status is None:
            raise Failure(text, "No such file or directory")
        if is_dir(status):
            with about(text):
                tree = session.client.walk(path)
            files = [posixpath.join(directory, f["pathSuffix"]) for directory, _, entries in tree for f in entries]
        else:
            files = [path]
        for file_path in files:
            with about(file_path):
                session.client.set_replication(file_path, args.replication)
            print(f"Replication {args.replication} set: {file_path}", file=session.stdout)
        for file_path in files if args.wait else ():
            _wait_for_replication(session, file_path, args.replication)
    return session.each("setrep", args.paths, set_one)


def _wait_for_replication(session, path, replication):
    """Poll the file's block locations until each block lists ``replication`` hosts (bounded by WAIT_LIMIT)."""
    session.stdout.write(f"Waiting for {path} ...")
    session.stdout.flush()
    deadline = time.monotonic() + WAIT_LIMIT
    with about(path):
        while any(len(b["hosts"]) != replication for b in session.client.block_locations(path)["BlockLocation"]):
            if time.monotonic() > deadline:
                raise Failure(path, f"not at replication {replication} after {WAIT_LIMIT} s")
            time.sleep(1)
    print(" done", file=session.stdout)


# -- files ----------------------------------------------------------------------------------------------------------

def checksum(session, args):
    def show(text):
        path = session.path(text)
        try:
            answer = session.client.checksum(path)
        except DFSError as e:
            raise session.file_failure(e, path, text) from None
        print(f"{answer['bytes']}  {text}", file=session.stdout)
    return session.each("checksum", args.paths, show)


def test(session, args):
    path = session.path(args.path)
    status = session.lookup(path, args.path)
    if status is None:
        return FAILED
    answers = {
        "e": True,
        "d": is_dir(status),
        "f": not is_dir(status),
        "s": not is_dir(status) and status.get("length", 0) > 0,
        "z": not is_dir(status) and status.get("length", 0) == 0,
    }
    return OK if answers[args.check] else FAILED
