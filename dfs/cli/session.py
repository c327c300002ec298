"""What every command runs against: a client made on first use, the working directory, the standard streams."""

import posixpath
import queue
import sys

from twisted.internet import reactor
from twisted.python.failure import Failure as TwistedFailure

from dfs import paths
from dfs.cli.errors import failure
from dfs.client import BlockingClient
from dfs.client.config import resolve
from dfs.errors import DFSError

# After Ctrl-C, how long to let a cancelled call unwind (close its connection, stop writing to stdout) before
# giving up on it.
UNWIND_SECONDS = 5


class InterruptibleClient:
    """``BlockingClient`` whose calls cancel their Deferred when the waiting thread gets Ctrl-C.

    Without this, an interrupted ``put`` in ``dfs shell`` would go on uploading in the reactor thread and replace the
    target after the user was told it stopped. Cancelling drops the connection before the body is complete, which
    makes the namenode discard the upload.
    """

    def __init__(self, blocking):
        self._blocking = blocking
        self.namenode_url = blocking.namenode_url

    def __getattr__(self, name):
        method = getattr(self._blocking._client, name)

        def call(*args, **kwargs):
            return _wait_interruptibly(method, args, kwargs)

        call.__name__ = name
        return call

    def close(self):
        self._blocking.close()


def _wait_interruptibly(method, args, kwargs):
    results = queue.Queue()
    running = []

    def start():
        d = method(*args, **kwargs)
        running.append(d)
        d.addBoth(results.put)

    reactor.callFromThread(start)
    try:
        result = results.get()
    except KeyboardInterrupt:
        reactor.callFromThread(lambda: running[0].cancel())
        try:
            results.get(timeout=UNWIND_SECONDS)
        except queue.Empty:
            pass
        raise
    if isinstance(result, TwistedFailure):
        result.raiseException()
    return result


class Session:
    """State shared by the commands of one ``dfs`` run or one ``dfs shell``."""

    def __init__(self, namenode=None, token=None, cwd="/", stdin=None, stdout=None, stderr=None):
        self.namenode = namenode
        self.token = token
        self.cwd = cwd
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self._client = None

    @property
    def client(self):
        if self._client is None:
            self._client = InterruptibleClient(BlockingClient(self.namenode, self.token))
        return self._client

    @property
    def namenode_url(self):
        if self._client is not None:
            return self._client.namenode_url
        return resolve(self.namenode, self.token)["namenode"]

    def path(self, text):
        """The absolute, validated dfs path for ``text``; relative paths start at the working directory."""
        joined = posixpath.normpath(posixpath.join(self.cwd, text))
        try:
            return paths.normalize("/" + joined.lstrip("/"))
        except DFSError as e:
            raise failure(e, text) from None

    def complain(self, command, path, reason):
        """Print one error line: ``dfs: <command>: <path>: <reason>``."""
        parts = ["dfs", command] + ([path] if path else []) + [reason]
        self.stdout.flush()
        print(": ".join(p for p in parts if p), file=self.stderr, flush=True)

    def write_bytes(self, data):
        self.stdout.buffer.write(data)

    def close(self):
        if self._client is not None:
            self._client.close()
            self._client = None
