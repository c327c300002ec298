"""The installed dfs's version: what `dfs --version` prints and what nodes report on the status page."""

from importlib.metadata import PackageNotFoundError, version as installed_version


def version():
    """The version of the installed dfs package, or "unknown" when running from a tree that was never installed."""
    try:
        return installed_version("dfs")
    except PackageNotFoundError:
        return "unknown"
