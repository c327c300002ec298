"""The namespace's past: `dfs snapshot allow|disallow|create|list|delete|rename|diff` (HDFS's read-only snapshots of
a directory) and `dfs restore` (a path made again as it was at a moment or in a snapshot)."""

from dfs import paths
from dfs.cli.errors import Failure, about
from dfs.cli.formatting import add_at_option, table, to_json, when_precise

# The words of HDFS's `snapshotDiff` report for each type of entry.
DIFF_MARKS = {"CREATE": "+", "DELETE": "-", "MODIFY": "M", "RENAME": "R"}
# action: the arguments it takes after DIR
ARGUMENTS = {"allow": 0, "disallow": 0, "create": (0, 1), "list": 0, "delete": 1, "rename": 2, "diff": (1, 2)}


def register(commands):
    p = commands.add("snapshot", snapshot, "make, list, compare and delete read-only snapshots of a directory",
                     description="A snapshot of DIR keeps its tree as it was, readable under DIR/.snapshot/NAME "
                                 "(ls, cat, get, the mount), without copying a byte; GC keeps every block a "
                                 "snapshot needs until the snapshot is deleted.\n"
                                 "allow DIR / disallow DIR: let DIR have snapshots (the superuser's);\n"
                                 "create DIR [NAME]: snapshot DIR now (NAME: s<yyyyMMdd-HHmmss.SSS> by default);\n"
                                 "list [DIR]: DIR's snapshots, or without DIR the snapshottable directories;\n"
                                 "delete DIR NAME; rename DIR OLD NEW;\n"
                                 "diff DIR FROM [TO]: what changed from snapshot FROM to TO (default: now), as "
                                 "HDFS's snapshotDiff: + created, - deleted, M modified, R renamed.")
    p.add_argument("action", choices=tuple(ARGUMENTS))
    p.add_argument("directory", nargs="?", metavar="DIR")
    p.add_argument("names", nargs="*", metavar="NAME")
    p.add_argument("--json", action="store_true", help="list, diff: print JSON")

    p = commands.add("restore", restore, "make a path again as it was at a moment, or as a snapshot has it",
                     description="Brings back a deleted tree, or an overwritten or truncated file, exactly as it was "
                                 "at TIME (within the namenode's --history-retention), or as DIR/.snapshot/NAME/... "
                                 "holds it: modes, owners, times and content, sharing the blocks it had (no byte is "
                                 "copied). A file there now gets the old content; a directory there is refused: "
                                 "restore elsewhere with --to DEST.")
    add_at_option(p)
    p.add_argument("--to", metavar="DEST", help="put it here instead of where it was (needed for a snapshot path)")
    p.add_argument("path", metavar="PATH")


def snapshot(session, args):
    wanted = ARGUMENTS[args.action]
    low, high = wanted if isinstance(wanted, tuple) else (wanted, wanted)
    if not low <= len(args.names) <= high or (args.directory is None and args.action != "list"):
        raise Failure(None, f"usage: dfs snapshot {args.action} DIR{' NAME' * low}", status=2)
    if args.directory is None:
        return _directories(session, args)
    path = session.path(args.directory)
    client = session.client
    with about(args.directory):
        if args.action == "allow":
            client.allow_snapshot(path)
        elif args.action == "disallow":
            client.disallow_snapshot(path)
        elif args.action == "create":
            print(client.create_snapshot(path, *args.names), file=session.stdout)
        elif args.action == "delete":
            client.delete_snapshot(path, *args.names)
        elif args.action == "rename":
            client.rename_snapshot(path, *args.names)
        elif args.action == "list":
            _print(session, args, client.snapshots(path), [["CREATED", "PATH"]],
                   lambda s: [when_precise(s["dirStatus"]["modificationTime"]), s["fullPath"]])
        else:
            _print(session, args, client.snapshot_diff(path, *args.names), [],
                   lambda e: [DIFF_MARKS[e["type"]], "./" + e["sourcePath"]]
                   + (["->", "./" + e["targetPath"]] if "targetPath" in e else []))
    return None


def restore(session, args):
    if args.at is None and not paths.in_snapshot(args.path):
        raise Failure(args.path, "restore needs --at TIME, or a path under a snapshot (DIR/.snapshot/NAME/...)",
                      status=2)
    path = session.path(args.path)
    to = session.path(args.to) if args.to else None
    with about(args.path):
        session.client.restore(path, args.at, to)
    print(f"Restored {args.path}" + (f" as it was at {args.at}" if args.at else "") + f" to {to or path}",
          file=session.stdout)
    return None


def _directories(session, args):
    with about(None):
        found = session.client.snapshottable_directories()
    _print(session, args, found, [["SNAPSHOTS", "DIRECTORY"]],
           lambda d: [str(d["snapshotNumber"]),
                      (d["parentFullPath"].rstrip("/") + "/" + d["dirStatus"]["pathSuffix"])])
    return None


def _print(session, args, items, header, row):
    if args.json:
        print(to_json(items), file=session.stdout)
    elif items:
        print(table(header + [row(item) for item in items]), file=session.stdout)
