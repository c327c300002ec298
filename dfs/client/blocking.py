"""A blocking facade over the async client for scripts, the CLI and FUSE: the reactor runs in a daemon thread."""

import atexit
import threading

from twisted.internet import reactor
from twisted.internet.threads import blockingCallFromThread

from dfs.client.config import resolve
from dfs.client.core import Client
from dfs.http import make_http

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
    """Every method of ``dfs.client.Client``, called from a plain thread and returning its result (or raising)."""

    def __init__(self, namenode_url=None, token=None, user=None):
        _ensure_reactor()
        settings = resolve(namenode_url, token)
        self.namenode_url = settings["namenode"]

        def build():
            http, self._pool = make_http(reactor)
            return Client(http, settings["namenode"], settings.get("token"), user, reactor)

        self._client = blockingCallFromThread(reactor, build)

    def __getattr__(self, name):
        method = getattr(self._client, name)
        if not callable(method):
            return method

        def call(*args, **kwargs):
            return blockingCallFromThread(reactor, method, *args, **kwargs)

        call.__name__ = name
        call.__doc__ = method.__doc__
        return call

    def close(self):
        blockingCallFromThread(reactor, self._pool.closeCachedConnections)
