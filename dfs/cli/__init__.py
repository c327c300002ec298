"""The `dfs` command: every file-system and cluster operation on top of ``dfs.client.BlockingClient``.

`dfs --help` lists the subcommands; `dfs shell` runs them interactively. Exit status: 0 ok, 1 failed, 2 usage.
"""

import sys

from dfs.cli.errors import INTERRUPTED, USAGE, Usage


def main(argv=None):
    """Parse ``argv`` (default: the process's arguments), run the command, return its exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        # Imported here, where Ctrl-C during the (slow) import of Twisted still ends without a traceback.
        from dfs.cli.dispatch import execute
        from dfs.cli.parser import build_parser, parse
        from dfs.cli.session import Session

        try:
            args = parse(build_parser(), argv)
        except Usage as u:
            print(f"dfs: {u.command + ': ' if u.command else ''}{u.reason}", file=sys.stderr)
            return USAGE
        if args.func is None:
            print("dfs: no command given (`dfs --help` lists them)", file=sys.stderr)
            return USAGE
        session = Session(args.namenode, args.token, timeouts=(args.connect_timeout, args.read_timeout),
                          user=args.user)
        return execute(session, args)
    except KeyboardInterrupt:
        print("dfs: interrupted", file=sys.stderr)
        return INTERRUPTED
