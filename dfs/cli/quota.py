"""`dfs quota set|get|clear`: a directory's name quota and space quota (as `hdfs dfsadmin -setQuota`,
`-setSpaceQuota` and `hdfs dfs -count -q`)."""

from dfs.cli.errors import Failure, about
from dfs.cli.formatting import size, table, to_json
from dfs.options import size_value

NO_QUOTA = -1


def register(commands):
    p = commands.add("quota", quota, "set, show or clear directory quotas", human=True,
                     description="A name quota limits the files and directories at or below a directory (itself "
                                 "counted); a space quota the bytes of its files, every replica counted. A change "
                                 "that would pass one fails (NSQuotaExceededException, DSQuotaExceededException; "
                                 "EDQUOT through the mount).")
    p.add_argument("action", choices=("set", "get", "clear"))
    p.add_argument("-n", "--names", metavar="N", help="set: the name quota")
    p.add_argument("-s", "--space", metavar="BYTES", help="set: the space quota (10G, 512M...)")
    p.add_argument("--only", choices=("names", "space"), help="clear: only this quota (default both)")
    p.add_argument("--json", action="store_true", help="get: print the content summaries as JSON")
    p.add_argument("paths", nargs="+", metavar="DIR")


def quota(session, args):
    if args.action == "get":
        return _get(session, args)
    if args.action == "set":
        if args.names is None and args.space is None:
            raise Failure(None, "quota set needs -n N and/or -s BYTES", status=2)
        names = _number(args.names, int, "name quota")
        space = _number(args.space, size_value, "space quota")
    else:
        names = NO_QUOTA if args.only in (None, "names") else None
        space = NO_QUOTA if args.only in (None, "space") else None

    def apply(text):
        with about(text):
            session.client.set_quota(session.path(text), names, space)
    return session.each("quota", args.paths, apply)


def _number(text, parse, what):
    if text is None:
        return None
    try:
        value = parse(text)
    except ValueError:
        raise Failure(None, f"the {what} must be a number, not {text!r}", status=2) from None
    if value < 1:
        raise Failure(None, f"the {what} must be at least 1, not {text}", status=2)
    return value


def _get(session, args):
    """One row per directory as `hdfs dfs -count -q` prints it: quota, remaining, space quota, remaining space,
    directories, files, bytes, path ("none" and "inf" where there is no quota)."""
    rows, found = [], []

    def show(text):
        with about(text):
            summary = session.client.du(session.path(text))
        found.append(dict(summary, path=text))
        names_used = summary["directoryCount"] + summary["fileCount"]
        rows.append([*_limit(summary["quota"], names_used, str),
                     *_limit(summary["spaceQuota"], summary["spaceConsumed"], lambda n: size(n, args.human)),
                     str(summary["directoryCount"]), str(summary["fileCount"]), size(summary["length"], args.human),
                     text])
    status = session.each("quota", args.paths, show)
    if args.json:
        print(to_json(found), file=session.stdout)
    elif rows:
        print(table(rows, right={0, 1, 2, 3, 4, 5, 6}), file=session.stdout)
    return status


def _limit(quota_value, used, shown):
    if quota_value < 0:
        return ["none", "inf"]
    return [shown(quota_value), shown(quota_value - used)]
