"""A blocking facade over the async client for scripts, the CLI and FUSE: the reactor runs in a daemon thread."""

import atexit
import contextvars
import functools
import queue
import threading

from twisted.internet import defer, reactor
from twisted.internet.threads import blockingCallFromThread
from twisted.python.failure import Failure

from dfs.client.config import resolve
from dfs.client.core import Client
from dfs.errors import Unavailable
from dfs.http import ca_policy, make_http

CANCEL_WAIT = 5.0  # seconds to let a cancelled call unwind before the interrupt is passed on
GIVE_UP_POLL = 0.2  # seconds between two looks at ``give_up`` while a call waits
_started = threading.Lock()
_thread = None


def _ensure_reactor():
    """Start the global reactor in a daemon thread once (unless this thread already runs it)."""
    global _thread
    with _started:
        if _thread is None and not reactor.running:
            _thread = threading.Thread(target=reactor.run, kwargs={"installSignalHandlers": False},
                                       name="dfs-reactor", daemon=True)
            _thread.start()
            atexit.register(lambda: reactor.callFromThread(reactor.stop))


class BlockingClient:
    """The dfs API for scripts: every method of ``dfs.client.Client``, waiting for its result and returning it.

    ``BlockingClient(namenode_url=None, token=None, user=None, ca_file=None, connect_timeout=None,
    read_timeout=None, umask=None)``: what is not given comes from ``$DFS_NAMENODE_URL``, ``$DFS_TOKEN``,
    ``$DFS_USER``, ``$DFS_CA_FILE``, ``$DFS_CONNECT_TIMEOUT``, ``$DFS_READ_TIMEOUT``, ``$DFS_UMASK``, then the config file (``~/.config/dfs/config.toml``), then
    ``http://127.0.0.1:8180``, the local user's name, 10 s to connect, 60 s without a byte moving and a umask of 022. The address may be ``host:port`` or an http(s) or webhdfs URL, or a comma-separated list of them (tried in turn).

    Failures raise ``dfs.errors.DFSError`` subclasses naming the path passed in (``FileNotFound``, ``FileExists``,
    ``PermissionDenied``...). No write replaces an existing file unless ``overwrite=True``. Ctrl-C during a call
    cancels it: an interrupted upload commits nothing.

    ``give_up``, when set, is asked while a call waits: a reason (a string) cancels the call, which then raises
    Unavailable with that reason (the FUSE mount sets it so that unmounting never waits for a frozen namenode).
    """

    def __init__(self, namenode_url=None, token=None, user=None, ca_file=None, connect_timeout=None,
                 read_timeout=None, umask=None):
        _ensure_reactor()
        self.give_up = None
        settings = resolve(namenode_url, token, ca_file, connect_timeout, read_timeout, umask, user)
        self.namenode_url = settings["namenode"]
        https = ca_policy(settings["ca_file"]) if settings.get("ca_file") else None

        def build():
            http, self._pool = make_http(reactor, context_factory=https, timeouts=settings["timeouts"])
            return Client(http, settings["namenodes"], settings.get("token"), settings["user"], reactor,
                          umask=settings["umask"])

        self._client = blockingCallFromThread(reactor, build)

    def close(self):
        """Close the connections this client keeps open."""
        blockingCallFromThread(reactor, self._pool.closeCachedConnections)

    def open(self, path, at=None):
        """``Client.open`` for plain threads: a reader whose ``read(offset=0, length=None)`` waits for the bytes."""
        return BlockingFileReader(self._wait(self._client.open, path, at=at), self)

    def _wait(self, method, *args, **kwargs):
        return _wait_interruptibly(method, args, kwargs, self.give_up)


class BlockingFileReader:
    """A ``dfs.client.core.FileReader`` for plain threads (``BlockingClient.open``)."""

    def __init__(self, reader, client):
        self._reader = reader
        self._client = client
        self.path = reader.path

    @property
    def length(self):
        return self._reader.length

    def read(self, offset=0, length=None):
        """The bytes from ``offset`` (at most ``length``), every chunk verified."""
        return self._client._wait(self._reader.read, offset, length)


def _blocking(method):
    """``Client.method`` as a method that waits for its result; same name, signature and docstring, for help()."""

    @functools.wraps(method)
    def call(self, *args, **kwargs):
        return self._wait(getattr(self._client, method.__name__), *args, **kwargs)

    return call


for _name, _method in vars(Client).items():
    if not _name.startswith("_") and callable(_method) and _name not in vars(BlockingClient):
        setattr(BlockingClient, _name, _blocking(_method))


def _wait_interruptibly(method, args, kwargs, give_up=None):
    """Run ``method`` in the reactor and wait for it; Ctrl-C in the waiting thread, or a reason from ``give_up()``,
    cancels its Deferred.

    Without the cancel an interrupted upload would go on in the reactor thread and replace the target after the
    user was told it stopped; cancelling drops the connection before the body is complete, so nothing commits.
    """
    results = queue.Queue()
    running = []

    def start():
        d = defer.maybeDeferred(method, *args, **kwargs)
        running.append(d)
        d.addBoth(results.put)

    # The call runs in this thread's context (dfs.client.acting: whom the mount's caller is).
    reactor.callFromThread(contextvars.copy_context().run, start)
    try:
        result = _wait(results, give_up)
    except (KeyboardInterrupt, Unavailable):
        reactor.callFromThread(lambda: running[0].cancel() if running else None)
        try:
            results.get(timeout=CANCEL_WAIT)
        except queue.Empty:
            pass
        raise
    if isinstance(result, Failure):
        result.raiseException()
    return result


def _wait(results, give_up):
    """The call's result; Unavailable as soon as ``give_up`` names a reason."""
    while True:
        try:
            return results.get(timeout=None if give_up is None else GIVE_UP_POLL)
        except queue.Empty:
            reason = give_up()
            if reason:
                raise Unavailable(reason) from None
