"""Which backend keeps the namespace, chosen by where it is: a PostgreSQL URL, else an SQLite file."""

import os
import re
from urllib.parse import urlsplit, urlunsplit

from dfs.errors import IOFailure

POSTGRES = ("postgresql://", "postgres://")
QUERY_PASSWORD = re.compile(r"((?:^|&)(?:ssl)?password=)[^&]*")  # libpq's password and sslpassword
SQLITE = "sqlite://"  # sqlite:///abs/path or sqlite://rel/path, as `dfs admin migrate` names one


def is_postgres(location):
    return location.startswith(POSTGRES)


def open_namespace(location, reactor=None, defaults=None, clock=None):
    """The Namespace kept at ``location`` (not yet opened): PostgreSQL for a ``postgresql://`` URL (psycopg is
    imported only then), else the SQLite file at that path, which opening creates."""
    if is_postgres(location):
        try:
            from dfs.namenode.namespace.postgres import PostgresNamespace
        except ImportError as e:
            raise IOFailure(f"a PostgreSQL namespace needs psycopg ({e}): pip install 'dfs[postgres]'") from None
        return PostgresNamespace(location, reactor, defaults, clock)
    from dfs.namenode.namespace.sqlite import SQLiteNamespace

    return SQLiteNamespace(location.removeprefix(SQLITE), reactor, defaults, clock)


def describe(location):
    """``location`` fit for a log line: a URL without its password (in its user part or its query), a path made
    absolute."""
    if not is_postgres(location):
        return os.path.abspath(location.removeprefix(SQLITE))
    parts = urlsplit(location)
    if parts.password is not None:
        host = parts.netloc.rpartition("@")[2]
        parts = parts._replace(netloc=f"{parts.username}:***@{host}")
    return urlunsplit(parts._replace(query=QUERY_PASSWORD.sub(r"\1***", parts.query)))
