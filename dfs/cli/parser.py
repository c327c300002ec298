"""The argument parser of `dfs` and of `dfs shell`: every subcommand registered by the module that implements it."""

import argparse

from dfs.cli import admin, history, mount, namespace, quota, shell, tokens, transfer, trash
from dfs.cli.errors import Usage
from dfs.client.config import namenode_urls
from dfs.errors import DFSError

# Each module adds its own subcommands; a later issue's commands (``dfs token``, ``dfs decommission``) add a module
# here.
MODULES = [namespace, transfer, admin, tokens, shell, mount, quota, trash, history]


class Parser(argparse.ArgumentParser):
    """Usage errors become one line (``dfs: ls: unrecognized arguments: -x``) and exit code 2, not a usage dump."""

    def error(self, message):
        command = self.prog.split(" ", 1)[1] if " " in self.prog else None
        if message.startswith("argument command: invalid choice:"):
            wrong = message.split("'", 2)[1] if "'" in message else "?"
            hint = "`help`" if getattr(self, "in_shell", False) else "`dfs --help`"
            command, message = wrong, f"unknown command ({hint} lists them)"
        raise Usage(message, command=command)


class Commands:
    """Adds subcommands to one subparsers action, with the options every subcommand shares."""

    def __init__(self, subparsers, in_shell, common):
        self.subparsers = subparsers
        self.in_shell = in_shell
        self.common = common
        self.summaries = {}

    def add(self, name, func, summary, human=False, description=None):
        """A subcommand; ``human`` gives it ``-h/--human-readable`` (help moves to ``--help`` alone, as in ls)."""
        parser = self.subparsers.add_parser(
            name, help=summary, description=description or summary, add_help=not human,
            parents=self.common, formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        if human:
            parser.add_argument("--help", action="help", help="show this help message and exit")
            parser.add_argument("-h", "--human-readable", dest="human", action="store_true",
                                help="sizes as 1.5K, 23M, 4.0G instead of bytes")
        parser.set_defaults(func=func, command=name)
        self.summaries[name] = summary
        return parser


def build_parser(in_shell=False):
    """The top-level parser, or (``in_shell``) the one ``dfs shell`` parses each line with."""
    parser = Parser(prog="dfs", add_help=not in_shell,
                    description="The dfs command line: files, directories and cluster administration.",
                    epilog="Exit status: 0 success, 1 the operation failed, 2 usage error.")
    common = []
    if not in_shell:
        _connection_options(parser, None)
        shared = Parser(add_help=False)
        _connection_options(shared, argparse.SUPPRESS, hidden=True)
        common = [shared]
        parser.add_argument("--version", action=_Version, help="print the version (dfs <version>) and exit")
    parser.in_shell = in_shell
    parser.set_defaults(func=None, command=None)
    subparsers = parser.add_subparsers(dest="subcommand", metavar="command", parser_class=Parser)
    commands = Commands(subparsers, in_shell, common)
    for module in MODULES:
        module.register(commands)
    parser.commands = commands
    return parser


def parse(parser, argv):
    """``parser.parse_args(argv)``, with the subcommand named in a usage error the top-level parser raised."""
    try:
        return parser.parse_args(argv)
    except Usage as u:
        if u.command is None:
            u.command = next((word for word in argv if word in parser.commands.summaries), None)
        raise


def _connection_options(parser, default, hidden=False):
    """--namenode, --token, --user and the timeouts; accepted after the subcommand too, where --help does not repeat them."""
    parser.add_argument("--namenode", metavar="URL", default=default, type=_namenode,
                        help=argparse.SUPPRESS if hidden else "namenode: host:port or an http://, https:// or webhdfs:// "
                                                              "URL, or a comma-separated list of them tried in turn "
                                                              "(default: $DFS_NAMENODE_URL, then the config file, "
                                                              "then http://127.0.0.1:8180)")
    parser.add_argument("--token", metavar="TOKEN", default=default,
                        help=argparse.SUPPRESS if hidden else "bearer token (default: $DFS_TOKEN, then the config "
                                                              "file)")
    parser.add_argument("--user", metavar="NAME", default=default,
                        help=argparse.SUPPRESS if hidden else "user to act as on a cluster without tokens, and the "
                                                              "user of `dfs token create` (default: $DFS_USER, then "
                                                              "the config file, then your login name)")
    parser.add_argument("--connect-timeout", metavar="SECONDS", type=float, default=default,
                        help=argparse.SUPPRESS if hidden else "give up connecting after this long (default: "
                                                              "$DFS_CONNECT_TIMEOUT, then the config file, then 10)")
    parser.add_argument("--read-timeout", metavar="SECONDS", type=float, default=default,
                        help=argparse.SUPPRESS if hidden else "give up when nothing moves for this long (default: "
                                                              "$DFS_READ_TIMEOUT, then the config file, then 60)")


def _namenode(text):
    """--namenode's value (one namenode or a comma-separated list) as URLs; a bad one is a usage error of one
    line."""
    try:
        return ",".join(namenode_urls(text))
    except DFSError as e:
        raise argparse.ArgumentTypeError(e.message) from None


class _Version(argparse.Action):
    """--version: the installed package's version, looked up only when asked (the lookup is slow)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        from dfs.version import version

        print(f"dfs {version()}")
        parser.exit()
