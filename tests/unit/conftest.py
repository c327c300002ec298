"""Fixtures of the in-memory tests: a namenode app on a synchronous store, a fake clock and no datanodes."""

import pytest
from twisted.internet.task import Clock

from dfs.namenode.app import NamenodeApp
from dfs.namenode.namespace.sqlite import SQLiteNamespace
from dfs.namenode.pins import Pins
from dfs.namenode.registry import Registry
from dfs.namenode.repair import Repair
from dfs.namenode.upload import FanOut


@pytest.fixture
def namenode_app(tmp_path):
    """A NamenodeApp out of safe mode; its store, registry, fan-out and repair are attributes."""
    store = SQLiteNamespace(str(tmp_path / "ns.sqlite"))
    store.start()
    clock = Clock()
    registry = Registry(clock)
    fanout = FanOut(None, registry, clock, Pins(store, clock))
    repair = Repair(store, registry, fanout, None, clock)
    repair.safemode.on = False
    config = {"cluster_id": store.cluster_id, "replication": 3, "min_replicas": 2, "block_size": 1 << 20,
              "public_url": None}
    yield NamenodeApp(store, registry, fanout, repair, config)
    store.stop()
