"""The dfs Python API: ``Client`` (async, on an injected treq.HTTPClient) and ``BlockingClient`` for scripts."""

from dfs.client.blocking import BlockingClient
from dfs.client.core import Client

__all__ = ["Client", "BlockingClient"]
