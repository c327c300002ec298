"""Stopping a running node for good with a failure exit status, so that its supervisor (Docker swarm's
update_config, systemd) sees it fail: twistd exits 0 after any stop of its reactor, and catches a SystemExit raised
while it runs."""

import atexit
import os
import sys

from twisted.internet.error import ReactorNotRunning
from twisted.logger import Logger

log = Logger()


def give_up(reactor, role, reason, status=1):
    """Log ``reason``, stop the reactor (every service stops as usual), and once twistd is done end the process with
    ``status`` and one line on stderr, ``dfs <role>: stopped: <reason>``, as a refusal at start-up ends it
    (dfs.options.Refused). Called again while stopping, it does nothing."""
    try:
        reactor.stop()
    except ReactorNotRunning:
        return
    log.critical("stopping: {reason}", reason=reason)
    atexit.register(_exit, f"dfs {role}: stopped: {reason}", status)


def _exit(line, status):
    """The last of the process, after twistd (which redirected sys.stdout and sys.stderr to its log) is done."""
    sys.__stdout__.flush()
    print(line, file=sys.__stderr__, flush=True)
    os._exit(status)
