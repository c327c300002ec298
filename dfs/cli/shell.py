"""`dfs shell`: every subcommand plus cd and pwd, with readline history and completion of remote paths.

Lines are split with shlex. When stdin is not a terminal the shell prints no prompt, so scripts can pipe commands in.
"""

import os
import shlex
import time

from dfs.cli import parser as cli_parser  # a cycle: the parser registers the shell's commands
from dfs.cli.dispatch import execute
from dfs.cli.errors import OK, USAGE, Failure, Usage, about
from dfs.cli.formatting import is_dir
from dfs.cli.progress import is_terminal

HISTORY_LENGTH = 2000
LISTING_TTL = 5.0
# Commands whose first operand is a local path (completion offers local files there).
LOCAL_FIRST = {"put", "lcd"}
LOCAL_LATER = {"get"}


class LeaveShell(BaseException):
    """Raised by `exit`; a BaseException so the per-command error handling lets it through."""

    def __init__(self, status):
        super().__init__(status)
        self.status = status


def register(commands):
    if not commands.in_shell:
        p = commands.add("shell", run, "an interactive shell with cd, pwd and every command (reads stdin)")
        p.add_argument("-e", dest="errexit", action="store_true", help="stop at the first command that fails")
        return
    p = commands.add("cd", cd, "change the working directory (no argument: /, `-`: the previous one)")
    p.add_argument("path", nargs="?", metavar="PATH")
    commands.add("pwd", pwd, "print the working directory")
    p = commands.add("lcd", lcd, "change the local working directory (for put and get)")
    p.add_argument("path", nargs="?", metavar="DIR")
    commands.add("lpwd", lpwd, "print the local working directory")
    p = commands.add("exit", leave, "leave the shell")
    p.add_argument("status", nargs="?", type=int, metavar="N")

    def show_help(session, args):
        if args.topic:
            if args.topic not in commands.subparsers.choices:
                raise Failure(args.topic, "unknown command")
            commands.subparsers.choices[args.topic].print_help(session.stdout)
            return OK
        rows = sorted(commands.summaries.items())
        width = max(len(name) for name, _ in rows)
        for name, summary in rows:
            print(f"  {name:<{width}}  {summary}", file=session.stdout)
        print("\n`help COMMAND` or `COMMAND --help` shows a command's options.", file=session.stdout)
        return OK

    p = commands.add("help", show_help, "list commands, or show one command's options")
    p.add_argument("topic", nargs="?", metavar="COMMAND")


# -- the loop -------------------------------------------------------------------------------------------------------

def run(session, args):
    parser = cli_parser.build_parser(in_shell=True)
    interactive = is_terminal(session.stdin)
    history = _Readline(session, sorted(parser.commands.summaries)) if interactive else None
    status = OK
    try:
        while True:
            line = _next_line(session, interactive)
            if line is None:
                break
            result = run_line(session, parser, line)
            if result is None:
                continue
            status = result
            if status != OK and args.errexit:
                break
    except LeaveShell as leaving:
        status = status if leaving.status is None else leaving.status
    finally:
        if history is not None:
            history.save()
    return status


def _next_line(session, interactive):
    """The next command line, or None at the end of input."""
    if not interactive:
        line = session.stdin.readline()
        return line if line else None
    while True:
        try:
            return input(f"dfs:{session.cwd}> ")
        except KeyboardInterrupt:
            print(file=session.stdout)
        except EOFError:
            print(file=session.stdout)
            return None


def run_line(session, parser, line):
    """Run one line; its exit status, or None for a blank line or a comment."""
    try:
        argv = shlex.split(line, comments=True)
    except ValueError as e:
        session.complain("shell", None, str(e))
        return USAGE
    if not argv:
        return None
    try:
        args = cli_parser.parse(parser, argv)
    except Usage as u:
        session.complain(u.command or argv[0], u.path, u.reason)
        return USAGE
    except SystemExit as e:  # --help printed its text
        return e.code if isinstance(e.code, int) else OK
    return execute(session, args)


# -- built-in commands ----------------------------------------------------------------------------------------------

def cd(session, args):
    text = args.path or "/"
    if text == "-":
        text = session.previous_cwd
    path = session.path(text)
    status = session.lookup(path, text)
    if status is None:
        raise Failure(text, "No such file or directory")
    if not is_dir(status):
        raise Failure(text, "Not a directory")
    session.previous_cwd, session.cwd = session.cwd, path
    return OK


def pwd(session, args):
    print(session.cwd, file=session.stdout)
    return OK


def lcd(session, args):
    target = os.path.expanduser(args.path or "~")
    with about(target):
        os.chdir(target)
    return OK


def lpwd(session, args):
    print(os.getcwd(), file=session.stdout)
    return OK


def leave(session, args):
    raise LeaveShell(args.status)


# -- readline -------------------------------------------------------------------------------------------------------

def history_path():
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "dfs", "history")


class _Readline:
    """History in ~/.local/share/dfs/history and tab completion of commands, remote and local paths."""

    def __init__(self, session, command_names):
        try:
            import readline
        except ImportError:  # a Python built without readline: the shell still works, without editing
            self.readline = None
            return
        self.readline = readline
        self.completer = Completer(session, command_names, readline)
        readline.set_completer(self.completer.complete)
        readline.set_completer_delims(" \t\n\"'")
        if "libedit" in (readline.__doc__ or ""):
            readline.parse_and_bind("bind ^I rl_complete")
        else:
            readline.parse_and_bind("tab: complete")
        readline.set_history_length(HISTORY_LENGTH)
        try:
            readline.read_history_file(history_path())
        except OSError:
            pass

    def save(self):
        if self.readline is None:
            return
        try:
            os.makedirs(os.path.dirname(history_path()), exist_ok=True)
            self.readline.write_history_file(history_path())
        except OSError:
            pass


class Completer:
    """readline's completer: command names first, then paths (remote ones listed with `ls`, briefly cached)."""

    def __init__(self, session, command_names, readline=None, clock=time.monotonic):
        self.session = session
        self.command_names = command_names
        self.readline = readline
        self.clock = clock
        self.listings = {}
        self.matches = []

    def complete(self, text, state):
        if state == 0:
            try:
                before = self.readline.get_line_buffer()[: self.readline.get_begidx()] if self.readline else ""
                self.matches = self.candidates(before, text)
            except Exception:  # a completer must never raise into readline
                self.matches = []
        return self.matches[state] if state < len(self.matches) else None

    def candidates(self, before, text):
        words = before.split()
        if not words:
            return [name + " " for name in self.command_names if name.startswith(text)]
        if text.startswith("-"):
            return []
        command, operands = words[0], [w for w in words[1:] if not w.startswith("-")]
        local = (command in LOCAL_FIRST and not operands) or (command in LOCAL_LATER and operands)
        return self.local(text) if local else self.remote(text)

    def remote(self, text):
        directory, _, prefix = text.rpartition("/")
        base = directory + "/" if "/" in text else ""
        listing = self._listing(self.session.path(directory or ("/" if text.startswith("/") else ".")))
        return sorted(base + name + ("/" if is_directory else "")
                      for name, is_directory in listing if name.startswith(prefix))

    def _listing(self, path):
        cached = self.listings.get(path)
        if cached and self.clock() - cached[0] < LISTING_TTL:
            return cached[1]
        entries = self.session.client.ls(path)
        listing = [(e["pathSuffix"], is_dir(e)) for e in entries if e["pathSuffix"]]
        self.listings[path] = (self.clock(), listing)
        return listing

    @staticmethod
    def local(text):
        directory, _, prefix = text.rpartition("/")
        base = directory + "/" if "/" in text else ""
        where = os.path.expanduser(directory or ("/" if text.startswith("/") else "."))
        try:
            names = os.listdir(where)
        except OSError:
            return []
        return sorted(base + name + ("/" if os.path.isdir(os.path.join(where, name)) else "")
                      for name in names if name.startswith(prefix))

