"""Shared fixtures: a real cluster (twistd processes on loopback) for the whole session, and fresh ones on demand."""

import itertools
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from cluster import Cluster  # noqa: E402

_paths = itertools.count()


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    """One namenode and three datanodes shared by every test that only needs a working cluster."""
    c = Cluster(tmp_path_factory.mktemp("cluster")).start()
    yield c
    c.stop()
    tracebacks = {path: text[max(0, text.index("Traceback") - 1500):][:4000]
                  for path, text in c.logs().items() if "Traceback" in text}
    assert not tracebacks, f"tracebacks in the shared cluster's logs: {tracebacks}"


@pytest.fixture
def make_cluster(tmp_path):
    """A factory for a private cluster (fault tests kill and restart its processes)."""
    made = []

    def make(**kwargs):
        c = Cluster(tmp_path / f"c{len(made)}", **kwargs)
        made.append(c)
        return c.start()

    yield make
    for c in made:
        c.stop()


@pytest.fixture
def unique_dir():
    """A fresh directory name in the shared namespace, so tests on the shared cluster never collide."""
    return f"/t/{os.getpid()}-{next(_paths)}"
