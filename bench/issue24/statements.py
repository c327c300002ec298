#!/usr/bin/env python3
"""The SQL statements and commits one WebHDFS request costs the namenode (issue 24): a 1 KiB CREATE, a
GETFILESTATUS of a file and a LISTSTATUS of a 3-entry directory at /bench/many, as the superuser and as a user
whose permissions are checked. In memory: a namenode app on a synchronous SQLite namespace, one datanode app behind
StubTreq.

    .venv/bin/python bench/issue24/statements.py
"""

import collections
import sys
import tempfile
from pathlib import Path

from treq.testing import StubTreq
from twisted.internet import defer, task
from twisted.internet.task import Clock

from dfs.datanode.app import DatanodeApp
from dfs.datanode.blockstore import BlockStore
from dfs.namenode.access import Access
from dfs.namenode.app import NamenodeApp
from dfs.namenode.groups import CachedGroups, GroupsFile
from dfs.namenode.namespace.sqlite import SQLiteNamespace
from dfs.namenode.permissions import Permissions
from dfs.namenode.pins import Pins
from dfs.namenode.registry import Registry
from dfs.namenode.repair import Repair
from dfs.namenode.upload import FanOut
from dfs.peers import DatanodeClient, NamenodeClient

REQUESTS = [("CREATE", "PUT", "/bench/many/c{n}?op=CREATE&data=true"),
            ("GETFILESTATUS", "GET", "/bench/many/c0?op=GETFILESTATUS"),
            ("LISTSTATUS", "GET", "/bench/many?op=LISTSTATUS")]


def namenode(root):
    store = SQLiteNamespace(str(Path(root) / "ns.sqlite"))
    store.start()
    clock = Clock()
    registry = Registry(clock)
    datanode = DatanodeApp(BlockStore(str(Path(root) / "dn")), None, Clock(), None, NamenodeClient(None, "http://nn"))
    datanode.in_thread = lambda fn, *args: defer.maybeDeferred(fn, *args)
    fanout = FanOut(DatanodeClient(StubTreq(datanode.resource())), registry, clock, Pins(store, clock))
    registry.register("dn1", "http://dn1", "http://dn1", 1 << 30, 0, 1 << 30, [], "boot:1")
    repair = Repair(store, registry, fanout, None, clock)
    repair.safemode.on = False
    config = {"cluster_id": store.cluster_id, "replication": 1, "min_replicas": 1, "block_size": 1 << 20,
              "public_url": None}
    groups = Path(root) / "groups"
    groups.write_text("alice: alice staff\n")
    access = Access(Permissions(CachedGroups(GroupsFile(str(groups)), clock), "dfs"))
    access.permissions.groups.groups("alice")  # cached: the checker is built on the reactor, as in a warm namenode
    return store, NamenodeApp(store, registry, fanout, repair, config, access=access)


async def count(app, store, method, target):
    """(statements, commits) of one request; the statements by their first words."""
    seen = []
    store._db.set_trace_callback(seen.append)
    response = await StubTreq(app.resource()).request(method, "http://nn/webhdfs/v1" + target, data=b"x" * 1024)
    await response.content()
    store._db.set_trace_callback(None)
    assert response.code < 300, (target, response.code)
    transactions, current = [], []
    if "-v" in sys.argv:
        print("\n".join(seen))
    for previous, statement in zip([None, *seen], seen):  # without a reactor every transaction commits
        if statement == previous:
            continue  # SQLite traces a statement again for each trigger it fires
        if statement == "COMMIT":
            transactions.append(current)
            current = []
        elif not statement.startswith(("BEGIN", "SAVEPOINT", "RELEASE", "ROLLBACK", "PRAGMA", "INSERT INTO commits")):
            current.append(" ".join(statement.split()[:3]))
    return transactions


async def main(reactor):
    with tempfile.TemporaryDirectory() as root:
        store, app = namenode(root)
        for n in range(3):
            await StubTreq(app.resource()).put(f"http://nn/webhdfs/v1/bench/many/c{n}?op=CREATE&data=true",
                                               data=b"x" * 1024)
        await StubTreq(app.resource()).put("http://nn/webhdfs/v1/bench/many?op=SETPERMISSION&permission=777")
        for user in ("", "&user.name=alice"):
            for n, (op, method, target) in enumerate(REQUESTS):
                transactions = await count(app, store, method, target.format(n=f"new{len(user)}") + user)
                writes = [t for t in transactions if any(s.startswith(("INSERT", "UPDATE", "DELETE")) for s in t)]
                print(f"{op} {'as alice' if user else 'as the superuser'}: {sum(map(len, transactions))} statements"
                      f" in {len(transactions)} transactions ({len(writes)} committing changes):")
                for statements in transactions:
                    kinds = collections.Counter(statements)
                    print("   ", ", ".join(f"{k} ×{v}" for k, v in kinds.items()))
        store.stop()


if __name__ == "__main__":
    sys.exit(task.react(lambda reactor: defer.ensureDeferred(main(reactor))))
