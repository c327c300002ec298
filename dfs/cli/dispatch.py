"""Running one parsed command: every way it can end becomes an exit code and at most one line on stderr."""

import os
import traceback

from dfs.cli.errors import BROKEN_PIPE, FAILED, INTERRUPTED, OK, Failure, reason
from dfs.errors import DFSError


def execute(session, args):
    """Run ``args.func(session, args)``; 0 ok, 1 failed, 2 usage, 130 interrupted, 141 broken pipe."""
    command = args.command
    try:
        return args.func(session, args) or OK
    except Failure as f:
        session.complain(command, f.path, f.reason)
        return f.status
    except BrokenPipeError:
        _silence_stdout(session)
        return BROKEN_PIPE
    except (DFSError, OSError) as e:
        session.complain(command, None, reason(e))
        return FAILED
    except KeyboardInterrupt:
        session.complain(command, None, "interrupted")
        return INTERRUPTED
    except Exception as e:  # a bug: still one line, the traceback only on request
        if os.environ.get("DFS_DEBUG"):
            traceback.print_exc(file=session.stderr)
        session.complain(command, None, f"internal error: {type(e).__name__}: {e}")
        return FAILED


def _silence_stdout(session):
    """The reader of stdout went away (``dfs cat big | head``): later writes and the exit flush go nowhere."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, session.stdout.fileno())
        os.close(devnull)
    except (AttributeError, OSError, ValueError):
        pass
