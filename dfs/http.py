"""The treq client every dfs component makes its own HTTP calls with (one pooled Agent per process)."""

from treq.client import HTTPClient
from twisted.web.client import Agent, HTTPConnectionPool


def make_http(reactor, connections_per_host=16, context_factory=None):
    pool = HTTPConnectionPool(reactor, persistent=True)
    pool.maxPersistentPerHost = connections_per_host
    pool.cachedConnectionTimeout = 120
    if context_factory is not None:
        agent = Agent(reactor, contextFactory=context_factory, pool=pool)
    else:
        agent = Agent(reactor, pool=pool)
    return HTTPClient(agent), pool
