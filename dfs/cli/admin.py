"""Cluster-wide commands: df, status (like `hdfs dfsadmin -report`), fsck, decommission, maintenance, balance,
safemode and format; and `admin migrate`, which works on a stopped namenode's database rather than on a cluster."""

import time

from dfs.cli.errors import FAILED, OK, Failure, Usage, about
from dfs.cli.formatting import duration, size, table, to_json
from dfs.cli.progress import is_terminal
from dfs.errors import FileNotFound
from dfs.options import duration_value


WAIT_LIMIT = 24 * 3600  # --wait gives up after a day
BALANCE_POLL = 1.0  # seconds between two progress lines of `dfs balance`
STOP_POLL = 0.2  # seconds between two looks at a stopped balancer run whose moves in flight end
STOP_LIMIT = 300  # a copy request has its timeout: the moves in flight end well within this
PROGRESS_EVERY = 2.0  # seconds between two progress lines of a migration


def register(commands):
    p = commands.add("df", df, "capacity, used and free space of the cluster", human=True)
    p.add_argument("--json", action="store_true", help="print JSON")

    p = commands.add("status", status, "datanodes with state, capacity, used, free, blocks, last heartbeat",
                     human=True)
    p.add_argument("--json", action="store_true", help="print the namenode's /cluster answer as JSON")

    p = commands.add("fsck", fsck, "check that every block of the files under PATH has its replicas",
                     description="Check the files under PATH (default /). Exit status 1 unless the namenode calls "
                                 "the tree HEALTHY.")
    p.add_argument("--files", action="store_true", help="list every file, not only those with problems")
    p.add_argument("--json", action="store_true", help="print the namenode's report as JSON")
    p.add_argument("path", nargs="?", default="/", metavar="PATH")

    p = commands.add("decommission", decommission, "drain a datanode: copy its blocks elsewhere, then release it",
                     description="Stop placing new blocks on NODE and copy every block it holds to other datanodes; "
                                 "it stays readable meanwhile. `dfs status` shows it decommissioning, then "
                                 "decommissioned. --cancel puts it back in service.")
    p.add_argument("--cancel", action="store_true", help="put the node back in service")
    p.add_argument("--wait", action="store_true", help="return only when the node is decommissioned")
    p.add_argument("node", metavar="NODE", help="the datanode's id (see dfs status)")

    p = commands.add("balance", balance, "move replicas until every datanode is about as full as the others",
                     human=True,
                     description="Have the namenode that leads background work move replicas from the fullest "
                                 "datanodes to the emptiest until every datanode's utilization (used over "
                                 "capacity) is within THRESHOLD percentage points of the cluster's mean, as `hdfs "
                                 "balancer`. Each move copies a replica, then deletes the source's: no block falls "
                                 "below its replication or leaves a rack it needs, and stopping (Ctrl-C, --stop) "
                                 "at any time is safe. Progress goes to stderr; exit status 1 unless it ends "
                                 "balanced.")
    p.add_argument("--threshold", type=float, default=10.0, metavar="POINTS",
                   help="percentage points a node may be from the mean (default 10)")
    p.add_argument("--bandwidth", type=float, metavar="MB/s",
                   help="move at most this many MB (2^20 bytes) a second (default 100)")
    p.add_argument("--stop", action="store_true", help="stop the run under way after its current move")

    p = commands.add("maintenance", maintenance, "take a datanode away for a while without copying its blocks",
                     description="Put NODE in maintenance for DURATION (e.g. 1h, 90m): no new blocks go there, reads "
                                 "go to other replicas, and while it is stopped its blocks are not copied elsewhere "
                                 "(unless a block would keep fewer than the namenode's --maintenance-min-replicas "
                                 "on other datanodes). When the time is up it is a datanode like the others again: "
                                 "dead, and its blocks copied, if it has not come back. --end ends it now.")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--for", dest="duration", type=duration_value, metavar="DURATION",
                       help="how long: 30s, 90m, 1h, 2d (a bare number is hours)")
    group.add_argument("--end", action="store_true", help="end the maintenance now")
    p.add_argument("node", metavar="NODE", help="the datanode's id (see dfs status)")

    p = commands.add("safemode", safemode, "show, hold, end or wait for the namenode's safe mode",
                     description="Like `hdfs dfsadmin -safemode`. get: say whether the namenode is in safe mode "
                                 "and what it waits for; enter: hold it (writes wait, repair copies and deletes "
                                 "nothing); leave: end it, even with blocks unreported (they are then missing: "
                                 "`dfs fsck` lists the files); wait: return when it is off.")
    p.add_argument("action", choices=("get", "enter", "leave", "wait"))
    p.add_argument("--timeout", type=float, default=WAIT_LIMIT, metavar="SECONDS",
                   help=f"wait gives up after this long, exit status 1 (default {WAIT_LIMIT})")

    p = commands.add("format", format_, "erase every file and block in the cluster (the original mkfs)",
                     description="Erase every file and block in the cluster. Asks for confirmation on a terminal; "
                                 "scripts must pass --yes.")
    p.add_argument("--yes", action="store_true", help="do not ask")

    p = commands.add("admin", admin, "purge the namespace's history; back up the namespace, restore a backup; migrate a"
                     " stopped namenode's database",
                     description="purge --before TIME: drop the namespace's history (what `--at` reads and "
                                 "`dfs restore` brings back) before TIME at once, so GC can take the blocks only it "
                                 "held (`dfs df` shows how much). Snapshots keep theirs; delete them with `dfs "
                                 "snapshot delete`. Asks for confirmation on a terminal; scripts pass --yes.\n"
                                 "migrate --from DATABASE --to DATABASE: copy a whole namespace between SQLite and "
                                 "PostgreSQL (either way), ids kept, so the datanodes' blocks stay referenced; then "
                                 "compare every table's row count and checksum on both sides, and keep the copy "
                                 "only when they agree. Stop the namenode first: a database a namenode has open is "
                                 "refused. A DATABASE is sqlite:///path/to/file (or a plain path) or "
                                 "postgresql://user:password@host:5432/db. The target must be empty (a new file or "
                                 "database) unless --replace, and both must have this dfs's schema version.\n"
                                 "backup: have the namenode take a backup of its SQLite namespace now, into its "
                                 "--backup-dir.\n"
                                 "restore-backup --from BACKUP --to DATABASE: with the namenode stopped, check the "
                                 "backup file and put it in place of the namenode's SQLite file (the one replaced "
                                 "is kept aside as DATABASE.replaced-TIME); the namenode then starts in safe mode "
                                 "and `dfs fsck /` lists any file whose blocks are gone.")
    p.add_argument("action", choices=("purge", "migrate", "backup", "restore-backup"))
    p.add_argument("--before", metavar="TIME",
                   help='purge: ISO 8601, milliseconds since the epoch, or "2 hours ago"; "0 seconds ago": all of it')
    p.add_argument("--yes", action="store_true", help="purge: do not ask")
    p.add_argument("--from", dest="source", metavar="DATABASE",
                   help="migrate: the namespace to copy; restore-backup: the backup file")
    p.add_argument("--to", dest="target", metavar="DATABASE",
                   help="migrate: where the copy goes; restore-backup: the namenode's --db file")
    p.add_argument("--replace", action="store_true", help="migrate: delete what the target holds first")


def df(session, args):
    with about(None):
        totals = session.client.status()["totals"]
    capacity, used, free = totals["capacity"], totals["used"], totals["free"]
    percent = round(100 * used / capacity) if capacity else 0
    held = totals.get("held", {})
    if args.json:
        print(to_json({"filesystem": session.namenode_url, "capacity": capacity, "used": used, "free": free,
                       "use_percent": percent, "held": held}), file=session.stdout)
        return OK
    rows = [["Filesystem", "Size", "Used", "Available", "Use%"],
            [session.namenode_url, size(capacity, args.human), size(used, args.human), size(free, args.human),
             f"{percent}%"]]
    print(table(rows, right={1, 2, 3, 4}), file=session.stdout)
    if any(held.values()):  # what `dfs trash expunge`, `dfs snapshot delete` and `dfs admin purge` give back
        print("Held to undo: " + ", ".join(f"{name} {size(held.get(name, 0), args.human)}"
                                           for name in ("trash", "snapshots", "backups", "history")),
              file=session.stdout)
    return OK


def status(session, args):
    with about(None):
        report = session.client.status()
    if args.json:
        print(to_json(report), file=session.stdout)
        return OK
    totals = report["totals"]
    human = args.human
    lines = [
        f"Cluster {report.get('cluster_id', '?')}  replication {report.get('replication', '?')}"
        f"  block size {size(report.get('block_size', 0), human)}",
        f"Namenode: dfs {report.get('version', '?')}, up {duration(report.get('uptime', 0))},"
        f" metadata {size(report.get('metadata_bytes', 0), True)}",
        "Health: " + ": ".join(filter(None, [report["verdict"]["state"].replace("_", " "), report["verdict"]["text"]])),
        f"Capacity {size(totals['capacity'], human)}  used {size(totals['used'], human)}"
        f"  free {size(totals['free'], human)}",
        "Datanodes: " + ", ".join(f"{count} {state}" for state, count in _node_states(report)),
        f"Files: {totals.get('files', '?')}  blocks: {totals.get('blocks', 0)}"
        f"  under-replicated {totals.get('under_replicated', 0)}"
        f"  missing {totals.get('missing', 0)}  over-replicated {totals.get('over_replicated', 0)}"
        f"  in one rack {totals.get('single_rack', 0)}",
        f"Safe mode: {_safemode_line(report['safemode'])}",
        f"Repair: {totals.get('copies_in_flight', 0)} copies in flight, {totals.get('copies_done', 0)} done,"
        f" {totals.get('deletions_done', 0)} extra or orphan replicas deleted",
        *[f"Decommissioning {n['id']}: {n.get('decommission_pending', 0)} blocks still to copy"
          + (f"; {n['decommission_blocked']}" if n.get("decommission_blocked") else "")
          for n in report.get("nodes", []) if n["state"] == "decommissioning"],
        *[f"In maintenance {n['id']}: {n['liveness']}, until {_local_time(n['maintenance_until'])}"
          for n in report.get("nodes", []) if n["state"] == "maintenance"],
        "",
    ]
    rows = [["ID", "STATE", "RACK", "VERSION", "CAPACITY", "USED", "FREE", "BLOCKS", "HEARTBEAT", "BLOCK REPORT",
             "URL"]]
    for node in report.get("nodes", []):
        reported = node.get("last_block_report")
        rows.append([node["id"], node["state"], node.get("rack", "?"), node.get("version") or "?",
                     size(node["capacity"], human),
                     size(node["used"], human), size(node["free"], human), str(node.get("blocks", 0)),
                     f"{node['last_heartbeat']:.1f}s ago", "none" if reported is None else f"{duration(reported)} ago",
                     node.get("public_url") or node["url"]])
    print("\n".join(lines), file=session.stdout)
    print(table(rows, right={4, 5, 6, 7, 8, 9}) if len(rows) > 1 else "No datanodes.", file=session.stdout)
    return OK


def _node_states(report):
    """(state, count) for alive, stale and dead, then any other state a node is in (decommissioning...)."""
    counts = {"alive": 0, "stale": 0, "dead": 0}
    for node in report.get("nodes", []):
        counts[node["state"]] = counts.get(node["state"], 0) + 1
    return list(counts.items())


def fsck(session, args):
    path = session.path(args.path)
    with about(args.path):
        report = session.client.fsck(path)
    totals = report["totals"]
    healthy = totals.get("status") == "HEALTHY"
    if args.json:
        print(to_json(report), file=session.stdout)
        return OK if healthy else FAILED
    for entry in report.get("files", []):
        if args.files or entry["status"] != "healthy":
            print(_file_line(entry), file=session.stdout)
    for problem in report.get("namespace", []):
        print(_namespace_line(problem), file=session.stdout)
    unreachable = totals.get("unreachable_inodes")
    one_rack = totals.get("single_rack")  # HDFS's mis-replicated blocks: a rack's loss would lose them
    print(f"Files: {totals['files']}  blocks: {totals['blocks']}  healthy: {totals['healthy']}"
          f"  under-replicated: {totals['under_replicated']}  missing: {totals['missing']}"
          f"  corrupt: {totals['corrupt']}" + (f"  unreachable inodes: {unreachable}" if unreachable else "")
          + (f"  in one rack: {one_rack}" if one_rack else ""), file=session.stdout)
    print(f"The filesystem under path '{path}' is {totals.get('status', 'UNKNOWN')}", file=session.stdout)
    return OK if healthy else FAILED


def _file_line(entry):
    blocks = entry.get("blocks", [])
    bad = [b for b in blocks if b["state"] != "healthy"]
    detail = f"{len(blocks)} blocks, replication {entry['replication']}"
    if bad:
        detail += "; " + ", ".join(f"{b['id'][:12]}… {b['state'].replace('_', '-')} ({len(b['replicas'])} live)"
                                   for b in bad[:5])
        if len(bad) > 5:
            detail += f", {len(bad) - 5} more"
    return f"{entry['path']}: {entry['status'].replace('_', '-').upper()} ({detail})"


def _namespace_line(problem):
    """A break in the namespace's tree, as fsck found it."""
    kind, inode, name, parent = problem["problem"], problem["inode"], problem["name"], problem["parent"]
    if kind == "missing_inode":
        return f"entry {name} of directory #{parent}: DANGLING, it names inode #{inode}, which is gone"
    if kind == "link_count":
        return f"inode #{inode} ({name}): LINK COUNT differs from the number of entries naming it"
    lost = f"{problem['inodes']} inodes, {problem['files']} files unreachable"
    if kind == "cycle":
        chain = " -> ".join(f"#{member}" for member in problem["cycle"])
        return f"inode #{inode} ({name}): CYCLE, its parents loop: {chain} ({lost})"
    if not parent:
        return f"inode #{inode}: ORPHANED, no directory entry names it ({lost})"
    why = "is gone" if kind == "orphan" else "is a file"
    return f"inode #{inode} ({name}): ORPHANED, its parent #{parent} {why} ({lost})"


def decommission(session, args):
    with about(None):
        try:
            node = session.client.decommission(args.node, cancel=args.cancel)
        except FileNotFound as e:  # the namenode's words, not a file's "No such file or directory"
            raise Failure(None, e.message) from None
        deadline = time.monotonic() + WAIT_LIMIT
        shown = node.get("decommission_pending")  # not yet counted when the namenode answers the request
        while args.wait and not args.cancel and node["state"] == "decommissioning":
            if shown != node.get("decommission_pending"):  # progress on stderr; stdout keeps the outcome
                shown = node.get("decommission_pending")
                print(f"{args.node}: {shown} blocks still to copy", file=session.stderr, flush=True)
            if node.get("decommission_blocked"):
                raise Failure(args.node, node["decommission_blocked"])
            if time.monotonic() > deadline:
                raise Failure(args.node, f"still decommissioning after {WAIT_LIMIT} s")
            time.sleep(1)
            node = next(n for n in session.client.status()["nodes"] if n["id"] == args.node)
    print(f"{node['id']}: {node['state']}", file=session.stdout)
    return OK


def balance(session, args):
    with about(None):
        if args.stop:
            run = _stop_balance(session)
        else:
            run = session.client.balance(args.threshold, args.bandwidth)
            try:
                run = _follow_balance(session, run)
            except KeyboardInterrupt:
                _stop_balance(session)
                raise
    rows = [["ID", "RACK", "USED", "CAPACITY", "UTILIZATION"]]
    rows += [[n["id"], n["rack"], size(n["used"], args.human), size(n["capacity"], args.human),
              f"{n['utilization']:.1f}%"] for n in run["nodes"]]
    print(table(rows, right={2, 3, 4}), file=session.stdout)
    print(f"Mean utilization {run['mean']:.1f}%. {_balance_line(run, args.human)}", file=session.stdout)
    if args.stop or run["state"] == "balanced":
        return OK
    raise Failure(None, f"{run['state']}: {run.get('why')}")


def _follow_balance(session, run):
    """Progress lines on stderr until the run ends; its last description."""
    deadline = time.monotonic() + WAIT_LIMIT
    while run["state"] == "running":
        if time.monotonic() > deadline:
            raise Failure(None, f"still balancing after {WAIT_LIMIT} s; `dfs balance --stop` stops it")
        spread = " ".join(f"{n['id']} {n['utilization']:.1f}%" for n in run["nodes"])
        print(f"dfs: balance: {_balance_line(run, True)}; mean {run['mean']:.1f}%: {spread}", file=session.stderr,
              flush=True)
        time.sleep(BALANCE_POLL)
        run = session.client.balance_progress()
    return run


def _stop_balance(session):
    """Stop the run under way and wait until its moves in flight end (each copies, then deletes); its last
    description."""
    run = session.client.balance(stop=True)
    deadline = time.monotonic() + STOP_LIMIT
    while run["state"] == "running" and time.monotonic() < deadline:
        time.sleep(STOP_POLL)
        run = session.client.balance_progress()
    return run


def _balance_line(run, human):
    if run["state"] == "idle":
        return "No balancer run yet."
    return (f"Balancer {run['state']}: {run['moves_done']} moves done, {run['moves_left']} left in this round"
            f" ({run.get('moves_in_flight', 0)} in flight),"
            f" {run['moves_failed']} not done, {size(run['bytes_moved'], human)} moved in"
            f" {duration(run['seconds'])}" + (f" ({run['why']})" if run.get("why") else ""))


def maintenance(session, args):
    with about(None):
        try:
            node = session.client.maintenance(args.node, None if args.end else args.duration)
        except FileNotFound as e:  # the namenode's words, not a file's "No such file or directory"
            raise Failure(None, e.message) from None
    until = node.get("maintenance_until")
    print(f"{node['id']}: {node['state']}" + (f" until {_local_time(until)}" if until else ""), file=session.stdout)
    return OK


def _local_time(seconds):
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))


def safemode(session, args):
    with about(None):
        state = session.client.safemode(None if args.action in ("get", "wait") else args.action)
        deadline = time.monotonic() + args.timeout
        while args.action == "wait" and state["on"]:
            if time.monotonic() > deadline:
                raise Failure(None, f"still in safe mode after {args.timeout:g} s: {state['reason']}")
            time.sleep(0.5)
            state = session.client.safemode()
    print(f"Safe mode is {_safemode_line(state)}", file=session.stdout)
    return OK


def _safemode_line(state):
    return f"ON: {state['reason']}" if state["on"] else "OFF"


def _confirm(session, args, what, question, refusal):
    if args.yes:
        return
    if not is_terminal(session.stdin):
        raise Usage(f"stdin is not a terminal: pass --yes to {what} without a question")
    session.stderr.write(f"{question} [y/N] ")
    session.stderr.flush()
    if session.stdin.readline().strip().lower() not in ("y", "yes"):
        raise Failure(None, refusal)


def admin(session, args):
    needed = {"purge": ("before",), "migrate": ("source", "target"), "backup": (),
              "restore-backup": ("source", "target")}[args.action]
    missing = [name for name in needed if getattr(args, name) is None]
    if missing:
        flags = {"before": "--before TIME", "source": "--from DATABASE", "target": "--to DATABASE"}
        raise Usage(f"admin {args.action} needs " + " and ".join(flags[name] for name in missing))
    actions = {"purge": purge, "migrate": migrate_namespace, "backup": backup, "restore-backup": restore_backup}
    return actions[args.action](session, args)


def backup(session, args):
    with about(None):
        taken = session.client.backup()
    print(f"Backup {taken['name']} taken: {taken['bytes']} bytes in {taken['seconds']} s.", file=session.stdout)
    return OK


def restore_backup(session, args):
    from dfs.namenode.namespace import sqlite_backup  # here: the cluster commands start without the database code

    with about(None):
        aside = sqlite_backup.restore(args.source, args.target)
    kept = f" The database it replaced is kept as {aside}." if aside else ""
    print(f"Restored {args.source} as {args.target}.{kept} Start the namenode: it stays in safe mode until the"
          " datanodes have reported, then `dfs fsck /` lists any file whose blocks are gone.", file=session.stdout)
    return OK


def purge(session, args):
    _confirm(session, args, "purge", f"Drop the history before {args.before} of the dfs cluster at "
             f"{session.namenode_url}, for good?", "not purged")
    with about(None):
        done = session.client.purge_history(args.before)
    print(f"Purged the history before {args.before}: {done['rows']} rows.", file=session.stdout)
    return OK


def format_(session, args):
    url = session.namenode_url
    _confirm(session, args, "format", f"Erase every file and block of the dfs cluster at {url}?", "not formatted")
    with about(None):
        session.client.format()
    print(f"Formatted the dfs cluster at {url}.", file=session.stdout)
    return OK


def migrate_namespace(session, args):
    from dfs.namenode.namespace import migrate  # here: the cluster commands start without the database drivers

    started = time.monotonic()
    with about(None):
        counts = migrate.migrate(args.source, args.target, args.replace, _row_progress(session.stderr))
    rows = [["TABLE", "ROWS"]] + [[name, str(count)] for name, count in counts.items()]
    print(table(rows, right={1}), file=session.stdout)
    print(f"Copied {sum(counts.values())} rows of {len(counts)} tables in {duration(time.monotonic() - started)};"
          " verified: every table's row count and checksum are the same in both.", file=session.stdout)
    return OK


def _row_progress(stream, clock=time.monotonic):
    """A migration's progress callback: a line on ``stream`` at most every PROGRESS_EVERY seconds, and a last one
    if any was drawn, so a short copy prints none."""
    state = {"shown_at": clock(), "shown": False}

    def show(done, total):
        now = clock()
        if now - state["shown_at"] >= PROGRESS_EVERY or (done == total and state["shown"]):
            state["shown_at"], state["shown"] = now, True
            percent = 100 * done // total if total else 100
            print(f"dfs: admin migrate: copied {done} of {total} rows ({percent}%)", file=stream, flush=True)

    return show
