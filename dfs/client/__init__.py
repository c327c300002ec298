"""The dfs Python API: ``Client`` (async, on an injected treq.HTTPClient) and ``BlockingClient`` for scripts."""

__all__ = ["Client", "BlockingClient"]


def __getattr__(name):
    # Imported on first use: Twisted and treq take a while to load, and `dfs --help` needs neither.
    if name == "BlockingClient":
        from dfs.client.blocking import BlockingClient
        return BlockingClient
    if name == "Client":
        from dfs.client.core import Client
        return Client
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
