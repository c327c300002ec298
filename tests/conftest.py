"""Shared fixtures: a real cluster (twistd processes on loopback) for the whole session, and fresh ones on demand."""

import itertools
import os
import re
import shutil
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

import postgres  # noqa: E402
from dfs.namenode.namespace.backends import open_namespace  # noqa: E402
from cluster import Cluster  # noqa: E402

_paths = itertools.count()


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    """One namenode and three datanodes shared by every test that only needs a working cluster."""
    c = Cluster(tmp_path_factory.mktemp("cluster")).start()
    yield c
    c.stop()
    assert_quiet_logs(c)


@pytest.fixture
def make_cluster(tmp_path):
    """A factory for a private cluster (fault tests kill and restart its processes). ``seed``: a directory laid out
    as a cluster root (namenode.sqlite, datanode0/ …) whose copy the cluster starts on."""
    made = []

    def make(seed=None, **kwargs):
        root = tmp_path / f"c{len(made)}"
        if seed is not None:
            shutil.copytree(seed, root)
        c = Cluster(root, **kwargs)
        made.append(c)
        return c.start()

    yield make
    for c in made:
        c.stop()
    for c in made:
        assert_quiet_logs(c)


# From a daemon's SIGTERM to its next start (a log file holds every run of its daemon).
SHUTTING_DOWN = re.compile(r"Received SIGTERM, shutting down\..*?(?=starting up\.|\Z)", re.S)


def assert_quiet_logs(cluster):
    """A daemon that logged a traceback or an unhandled error hid a bug from the test that passed beside it. What a
    request still in flight logs once the test has stopped its daemons (a repair copy cut off by the shutdown) is not
    looked at: the process is going away, and what it acknowledged before is what the tests check."""
    problems = {}
    for path, text in cluster.logs().items():
        text = SHUTTING_DOWN.sub("", text)
        found = [text.index(marker) for marker in ("Traceback", "Unhandled error") if marker in text]
        if found:
            problems[path] = text[max(0, min(found) - 1500):][:4000]
    assert not problems, f"tracebacks or unhandled errors in the daemons' logs: {problems}"


@pytest.fixture(scope="session")
def postgres_server():
    """One throwaway PostgreSQL server for the session (tests/postgres.py). Skipped where PostgreSQL is not
    installed, except in CI (CI=true), where a missing server is a failure, not a silent skip."""
    reason = postgres.unavailable_reason()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI needs PostgreSQL: {reason}")
        pytest.skip(reason)
    server = postgres.PostgresServer()
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server):
    """The URL of an empty database of its own on the session's PostgreSQL server."""
    url = postgres_server.database()
    yield url
    postgres_server.drop(url)


@pytest.fixture(scope="session")
def postgres_namespace_url(postgres_server):
    """One database shared by the namespace tests, emptied before each (``namespace_location``)."""
    return postgres_server.database()


@pytest.fixture(params=["sqlite", "postgres"])
def namespace_location(request, tmp_path):
    """Where a test's empty namespace is kept, once per backend: an SQLite file, or a PostgreSQL URL."""
    if request.param == "sqlite":
        return str(tmp_path / "ns.sqlite")
    url = request.getfixturevalue("postgres_namespace_url")
    request.getfixturevalue("postgres_server").empty(url)
    return url


@pytest.fixture
def namespace(namespace_location):
    """An empty, started namespace on each backend, run synchronously (no reactor)."""
    store = open_namespace(namespace_location)
    store.start()
    yield store
    store.stop()


@pytest.fixture
def unique_dir():
    """A fresh directory name in the shared namespace, so tests on the shared cluster never collide."""
    return f"/t/{os.getpid()}-{next(_paths)}"
