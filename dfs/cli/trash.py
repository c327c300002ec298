"""`dfs trash list|restore|expunge`: what `dfs rm` moved into the caller's trash, and getting it back."""

from dfs.cli.errors import Failure, about, failure
from dfs.cli.formatting import size, table, to_json, when
from dfs.errors import AlreadyExists, DFSError, FileNotFound


def register(commands):
    p = commands.add("trash", trash, "list, restore or expunge what `dfs rm` moved into your trash",
                     description="`dfs rm` moves a path to /user/<you>/.Trash/Current/<path> when the namenode keeps "
                                 "trash (--trash-interval); the namenode turns Current into a checkpoint named by "
                                 "the time (yyMMddHHmmss, UTC) and deletes checkpoints older than the interval.\n"
                                 "list: what is in your trash, where it came from and when it was deleted;\n"
                                 "restore PATH: move PATH (where it was, or where it is in trash) back; refused "
                                 "when something lives there now, unless --to DEST;\n"
                                 "expunge: checkpoint now and delete the expired checkpoints (--immediate: empty "
                                 "the trash).")
    p.add_argument("action", choices=("list", "restore", "expunge"))
    p.add_argument("path", nargs="?", metavar="PATH", help="restore: the path to bring back")
    p.add_argument("--to", metavar="DEST", help="restore: put it here instead of where it was")
    p.add_argument("--immediate", action="store_true", help="expunge: delete every checkpoint, Current included")
    p.add_argument("--json", action="store_true", help="list: print JSON")


def trash(session, args):
    if args.action == "list":
        return _list(session, args)
    if args.action == "expunge":
        with about(None):
            session.client.trash_expunge(immediate=args.immediate)
        return None
    if not args.path:
        raise Failure(None, "restore needs the PATH to bring back", status=2)
    path = session.path(args.path)
    to = session.path(args.to) if args.to else None
    try:
        restored = session.client.trash_restore(path, to=to)
    except AlreadyExists as e:
        if to is None:
            raise Failure(e.path or args.path, "File exists (restore it elsewhere with --to DEST)") from None
        raise failure(e, args.to) from None
    except FileNotFound:
        raise Failure(args.path, "not in the trash (dfs trash list shows what is there)") from None
    except DFSError as e:
        raise failure(e, args.path) from None
    print(f"Restored {args.path} to {restored}", file=session.stdout)
    return None


def _list(session, args):
    with about(None):
        items = session.client.trash_list()
    if args.json:
        print(to_json(items), file=session.stdout)
        return None
    rows = [["DELETED", "SIZE", "ORIGINAL PATH", "IN TRASH"]]
    for item in items:
        deleted = "since the last checkpoint" if item["deleted_before"] is None else (
            "before " + when(item["deleted_before"]))
        rows.append([deleted, size(item["length"], False), item["original"], item["path"]])
    if items:
        print(table(rows, right={1}), file=session.stdout)
    return None
