"""The PostgreSQL backend's transaction runner and schema, against a real server (tests/postgres.py): commits and
reads on threads, SERIALIZABLE conflicts retried into a serial outcome, errors mapped, schema applied once."""

import logging
import random
import sqlite3
import threading
import time

import psycopg
import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.task import Clock
from twisted.logger import LogLevel, capturedLogs, formatEvent

import postgres
from test_metadata import result

from dfs.errors import CannotMove, IOFailure, NoSpace
from dfs.metrics import NamenodeMetrics
from dfs.namenode.namespace import schema
from dfs.namenode.namespace.backends import describe
from dfs.namenode.namespace.model import DIRECTORY, ROOT
from dfs.namenode.namespace.sqlite import SQLiteNamespace
from dfs.namenode.namespace.postgres import (UPGRADE_LOCK, WAIT_FOR_CONNECTION, DatabaseUnavailable,
                                             PostgresNamespace, SchemaChanged, TooManyConflicts)
from dfs.namenode.namespace.schema import SchemaTooNew

WAIT = 60  # seconds: generous, the machine may be loaded


@pytest.fixture
def namespace(postgres_url):
    ns = PostgresNamespace(postgres_url, reactor)
    ns.start()
    yield ns
    ns.stop()


def raise_sqlstate(db, state):
    """Make the server itself raise an error with SQLSTATE ``state``."""
    db.execute(f"DO $$ BEGIN RAISE EXCEPTION 'raised by the test' USING ERRCODE = '{state}'; END $$")


def add_directory(db, parent, name):
    inode = db.execute("INSERT INTO inodes (type, mode, owner, grp, mtime, atime) VALUES (%s, 493, 'u', 'g', 0, 0)"
                       " RETURNING id", (DIRECTORY,)).fetchone()[0]
    db.execute("INSERT INTO dirents (parent, name, inode) VALUES (%s, %s, %s)", (parent, name, inode))
    return inode


def parent_of(db, inode):
    return db.execute("SELECT parent FROM dirents WHERE inode = %s", (inode,)).fetchone()[0]


def move(db, inode, new_parent, new_name, attempts, barrier):
    """A rename as the backend will do it: refuse to move a directory below itself (walk the new parent's
    ancestors), then re-point its entry. With a ``barrier``, the first attempt waits after its checks until the
    other rename has made its own, so the two overlap."""
    attempts.append(inode)
    walked = new_parent
    for _ in range(100):
        if walked == inode:
            raise CannotMove("cannot move a directory below itself")
        if walked == ROOT:
            break
        walked = parent_of(db, walked)
    if barrier is not None and attempts.count(inode) == 1:
        barrier.wait()
    db.execute("UPDATE dirents SET parent = %s, name = %s WHERE inode = %s", (new_parent, new_name, inode))


def reaches_root(db, inode):
    seen = set()
    while inode != ROOT:
        if inode in seen:
            return False
        seen.add(inode)
        inode = parent_of(db, inode)
    return True


@pytest_twisted.ensureDeferred
async def test_commits_on_a_thread_and_reads_what_was_committed(namespace):
    release = threading.Event()

    def remember(db, node, url):
        release.wait(WAIT)
        db.execute("INSERT INTO datanodes (id, url) VALUES (%s, %s)", (node, url))
        return db.execute("SHOW transaction_isolation").fetchone()[0]

    d = namespace.run(remember, "n1", "http://127.0.0.1:1")
    assert not d.called  # the transaction waits on its thread, not on the reactor
    release.set()
    assert (await d) == "serializable"

    def known(db):
        return db.execute("SELECT id, url FROM datanodes").fetchall(), \
            db.execute("SHOW transaction_isolation").fetchone()[0], \
            db.execute("SHOW transaction_read_only").fetchone()[0]

    assert (await namespace.read(known)) == ([("n1", "http://127.0.0.1:1")], "repeatable read", "on")


@pytest_twisted.ensureDeferred
async def test_a_failing_change_is_rolled_back(namespace):
    def half_done(db):
        db.execute("INSERT INTO datanodes (id, url) VALUES ('n1', 'u')")
        raise CannotMove("refused")

    with pytest.raises(CannotMove):
        await namespace.run(half_done)
    assert (await namespace.read(lambda db: db.execute("SELECT count(*) FROM datanodes").fetchone()[0])) == 0


@pytest_twisted.ensureDeferred
async def test_concurrent_renames_end_serial_without_a_cycle(namespace):
    """/a -> /b/x and /b -> /a/y at once: each checks the other's entry and changes its own (write skew). READ
    COMMITTED lets both commit, leaving a and b in a cycle no path reaches; SERIALIZABLE refuses one, whose retry
    sees the other's rename and refuses to move a directory below itself."""
    a, b = await namespace.run(lambda db: (add_directory(db, ROOT, "a"), add_directory(db, ROOT, "b")))
    retried, attempts, barrier = [], [], threading.Barrier(2, timeout=WAIT)
    namespace.observe_retry = retried.append
    outcomes = await gather(namespace.run(move, a, b, "x", attempts, barrier),
                            namespace.run(move, b, a, "y", attempts, barrier))

    assert (await namespace.read(lambda db: [reaches_root(db, i) for i in (a, b)])) == [True, True]
    assert sorted(type(o).__name__ for o in outcomes) == ["CannotMove", "NoneType"]
    assert [type(e) for e in retried] == [psycopg.errors.SerializationFailure]
    assert len(attempts) == 3


@pytest_twisted.ensureDeferred
async def test_many_concurrent_renames_never_make_a_cycle(namespace):
    """Random moves among six directories, all at once on the runner's threads: every refused transaction is
    retried within the bound, and every directory still reaches the root."""
    directories = await namespace.run(lambda db: [add_directory(db, ROOT, f"d{n}") for n in range(6)])
    retried = []
    namespace.observe_retry = retried.append
    rng = random.Random(21)
    moves = [rng.sample(directories, 2) for _ in range(200)]
    outcomes = await gather(*[namespace.run(move, inode, parent, f"m{n}", [], None)
                              for n, (inode, parent) in enumerate(moves)])

    assert (await namespace.read(lambda db: [reaches_root(db, i) for i in directories])) == [True] * 6
    assert {type(o).__name__ for o in outcomes} <= {"NoneType", "CannotMove"}
    assert retried  # the transactions did overlap


@pytest_twisted.ensureDeferred
async def test_the_backends_own_renames_at_once_leave_a_tree(namespace):
    """The namespace's rename, 200 at once among directories that move into each other: HDFS's answers (True,
    or False for a refusal), retried conflicts, and fsck finds no cycle and no orphan."""
    names = [f"d{n}" for n in range(6)]
    for name in names:
        await namespace.mkdirs(f"/{name}")
    metrics = NamenodeMetrics(None, None, namespace)
    rng = random.Random(14)
    paths = [f"/{a}" for a in names] + [f"/{a}/{b}" for a in names for b in names if a != b]
    outcomes = await gather(*[namespace.rename(rng.choice(paths), rng.choice(paths)) for _ in range(200)])

    assert {type(o) for o in outcomes} == {bool}, [o for o in outcomes if not isinstance(o, bool)]
    assert True in outcomes
    assert (await namespace.namespace_problems()) == []
    assert (await namespace.content_summary("/")).directories == 1 + len(names)
    assert metrics.registry.get_sample_value("dfs_namespace_conflicts_total") > 0  # they did overlap, and it counts


def test_disk_usage_is_the_databases_size_and_integrity_check_runs_amcheck(postgres_url):
    with psycopg.connect(postgres_url, autocommit=True) as db:
        db.execute("CREATE EXTENSION amcheck")
    store = PostgresNamespace(postgres_url)
    store.start()
    try:
        assert store.disk_usage() > 1_000_000  # an empty PostgreSQL database takes megabytes
        assert result(store.integrity_check()) == "ok"
        assert result(store.read(lambda db: db.execute(
            "SELECT COUNT(*) FROM pg_index AS x JOIN pg_class AS c ON c.oid = x.indrelid"
            " WHERE c.relname IN ('inodes', 'dirents', 'extents')").fetchone()[0])) >= 5  # what it checked
    finally:
        store.stop()


async def gather(*deferreds):
    """Each Deferred's result, or its exception."""
    outcomes = []
    for d in deferreds:
        try:
            outcomes.append(await d)
        except Exception as e:
            outcomes.append(e)
    return outcomes


@pytest_twisted.ensureDeferred
async def test_conflicts_are_retried_up_to_the_bound(postgres_url):
    ns = PostgresNamespace(postgres_url, reactor, attempts=3)
    ns.start()
    try:
        calls, retried = [], []
        ns.observe_retry = retried.append

        def always_conflicting(db):
            calls.append(1)
            raise_sqlstate(db, "40001")

        with pytest.raises(TooManyConflicts, match="refused the change 3 times"):
            await ns.run(always_conflicting)
        assert len(calls) == 3 and len(retried) == 3

        def deadlocked_once(db):
            calls.append(2)
            if calls.count(2) == 1:
                raise_sqlstate(db, "40P01")
            return "done"

        assert (await ns.run(deadlocked_once)) == "done"
        assert calls.count(2) == 2
    finally:
        ns.stop()


@pytest_twisted.ensureDeferred
async def test_a_full_disk_is_no_space(namespace):
    with pytest.raises(NoSpace, match="out of space"):
        await namespace.run(raise_sqlstate, "53100")


@pytest_twisted.ensureDeferred
async def test_a_standby_that_takes_no_writes_is_unavailable_and_says_why(namespace):
    with pytest.raises(DatabaseUnavailable, match="accepts no writes .*target_session_attrs=read-write") as e:
        await namespace.run(raise_sqlstate, "25006")
    assert e.value.status == 503


@pytest_twisted.ensureDeferred
async def test_a_lost_connection_is_unavailable_and_the_next_transaction_reconnects(namespace, postgres_url):
    together = threading.Barrier(3, timeout=WAIT)

    def backend(db):
        together.wait()  # three at once: the pool holds three connections
        return db.execute("SELECT pg_backend_pid()").fetchone()[0]

    before = await gather(*[namespace.read(backend) for _ in range(3)])
    assert len(set(before)) == 3
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                      " WHERE datname = current_database() AND pid != pg_backend_pid()")
    with pytest.raises(DatabaseUnavailable, match=r"cannot reach its namespace database \(nothing was done\)"):
        await namespace.read(lambda db: db.execute("SELECT 1").fetchone())
    after = await namespace.read(lambda db: db.execute("SELECT pg_backend_pid()").fetchone()[0])
    assert after not in before


@pytest.fixture
def own_server(postgres_server):
    """A PostgreSQL server of the test's own, to stop and start again (``postgres_server``: skipped where none can
    run)."""
    server = postgres.PostgresServer()
    try:
        yield server.start()
    finally:
        server.stop()


@pytest_twisted.ensureDeferred
async def test_a_database_that_is_away_is_refused_soon_and_used_again_once_back(own_server):
    ns = PostgresNamespace(own_server.database(), reactor)
    ns.start()
    try:
        await ns.run(lambda db: db.execute("CREATE TABLE kept (n INTEGER)"))
        own_server.halt()
        for _ in range(3):  # the pooled connection the stop broke, then none to be had
            asked = time.monotonic()
            with pytest.raises(DatabaseUnavailable, match=r"\(nothing was done\)") as refused:
                await ns.run(lambda db: db.execute("INSERT INTO kept VALUES (1)"))
            assert time.monotonic() - asked < WAIT_FOR_CONNECTION + 5
            assert refused.value.status == 503
        own_server.launch()
        deadline = time.monotonic() + WAIT
        while True:  # the pool reconnects on its own, within a few seconds
            try:
                await ns.run(lambda db: db.execute("INSERT INTO kept VALUES (2)"))
                break
            except DatabaseUnavailable:
                assert time.monotonic() < deadline, "the namespace never reconnected"
        assert (await ns.read(lambda db: db.execute("SELECT n FROM kept").fetchall())) == [(2,)]
    finally:
        ns.stop()


@pytest_twisted.ensureDeferred
async def test_the_schema_applies_once_and_the_root_is_made_once(postgres_url):
    first = PostgresNamespace(postgres_url)
    first.start()
    first.stop()
    again = PostgresNamespace(postgres_url)
    again.start()
    try:
        def state(db):
            return (db.execute("SELECT version FROM schema_version").fetchall(),
                    db.execute("SELECT id FROM inodes").fetchall(),
                    db.execute("SELECT count(*) FROM meta").fetchone()[0])

        versions = [(version,) for version in range(1, schema.latest("postgres") + 1)]
        assert (await again.read(state)) == (versions, [(ROOT,)], 1)
        assert again.cluster_id == first.cluster_id and len(again.cluster_id) == 32
    finally:
        again.stop()


@pytest_twisted.ensureDeferred
async def test_the_tables_and_columns_are_the_sqlite_backends(namespace, tmp_path):
    """The two backends keep one layout, so queries, fsck and the migration between them read the same columns."""
    SQLiteNamespace(str(tmp_path / "ns.sqlite")).open()
    with sqlite3.connect(tmp_path / "ns.sqlite") as db:
        tables = [name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        in_sqlite = {table: sorted(row[1] for row in db.execute(f"PRAGMA table_info({table})")) for table in tables}

    def columns(db):
        found = {}
        for table, column in db.execute("SELECT table_name, column_name FROM information_schema.columns"
                                        " WHERE table_schema = 'public'"):
            found.setdefault(table, []).append(column)
        return {table: sorted(names) for table, names in found.items()}

    assert (await namespace.read(columns)) == in_sqlite


def test_namenodes_starting_together_apply_the_schema_once(postgres_url):
    started, errors = [], []

    def start():
        try:
            ns = PostgresNamespace(postgres_url)
            ns.start()
            started.append(ns)
        except Exception as e:
            errors.append(e)

    threads = [threading.Thread(target=start) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    try:
        assert errors == [] and len(started) == 3
        assert len({ns.cluster_id for ns in started}) == 1
    finally:
        for ns in started:
            ns.stop()


def test_a_namenode_waits_while_another_upgrades_the_schema(postgres_url):
    started = []

    def start():
        ns = PostgresNamespace(postgres_url)
        ns.start()
        started.append(ns)

    with psycopg.connect(postgres_url) as upgrading:  # as a namenode upgrading: the lock, in a transaction
        upgrading.execute("SELECT pg_advisory_xact_lock(%s)", (UPGRADE_LOCK,))
        threads = [threading.Thread(target=start) for _ in range(2)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + WAIT
        while upgrading.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                                ).fetchone()[0] < 2:
            assert time.monotonic() < deadline, "the namenodes never waited for the lock"
            time.sleep(0.05)
        assert started == [] and upgrading.execute("SELECT to_regclass('schema_version')").fetchone()[0] is None
    for thread in threads:  # the lock went with the transaction: one of them upgrades, the other waits for it
        thread.join(WAIT)
    for ns in started:
        ns.stop()
    assert len(started) == 2
    with psycopg.connect(postgres_url) as db:
        assert db.execute("SELECT version FROM schema_version ORDER BY version").fetchall() \
            == [(version,) for version in range(1, schema.latest("postgres") + 1)]


@pytest_twisted.ensureDeferred
async def test_a_running_namenode_changes_nothing_once_a_newer_one_upgraded_the_schema(namespace, postgres_url):
    await namespace.run(lambda db: db.execute("CREATE TABLE kept (n INTEGER)"))
    with psycopg.connect(postgres_url, autocommit=True) as newer:
        newer.execute("INSERT INTO schema_version VALUES (99, 0)")
    known = schema.latest("postgres")
    with pytest.raises(SchemaChanged, match=f"schema version 99, newer than this namenode knows \\({known}\\)") as e:
        await namespace.run(lambda db: db.execute("INSERT INTO kept VALUES (1)"))
    assert e.value.status == 503
    assert (await namespace.read(lambda db: db.execute("SELECT count(*) FROM kept").fetchone()[0])) == 0


def test_a_database_that_cannot_be_opened_fails_the_start_at_once_with_the_reason(postgres_server):
    with pytest.raises(IOFailure, match='cannot open the namespace database: .*"missing" does not exist'):
        PostgresNamespace(postgres_server.url("missing")).start()


@pytest_twisted.ensureDeferred
async def test_a_database_newer_than_the_code_is_refused(postgres_url):
    ns = PostgresNamespace(postgres_url)
    ns.start()
    await ns.run(lambda db: db.execute("INSERT INTO schema_version VALUES (99, 0)"))
    ns.stop()
    known = schema.latest("postgres")
    with pytest.raises(SchemaTooNew, match=f"schema version 99, newer than this dfs knows \\({known}\\)"):
        PostgresNamespace(postgres_url).start()


@pytest_twisted.ensureDeferred
async def test_blocks_are_stamped_when_their_last_reference_goes(postgres_url):
    clock = Clock()
    ns = PostgresNamespace(postgres_url, clock=clock)
    ns.start()
    try:
        def add(db, seq):
            db.execute("INSERT INTO blocks (id, size) VALUES ('b', 10) ON CONFLICT DO NOTHING")
            db.execute("INSERT INTO extents VALUES (2, %s, 'b', 0, 10)", (seq,))

        def stamp(db):
            return db.execute("SELECT unreferenced_since FROM blocks WHERE id = 'b'").fetchone()[0]

        def drop(db, seq):
            db.execute("DELETE FROM extents WHERE seq = %s", (seq,))

        await ns.run(add, 0)
        await ns.run(add, 1)
        clock.advance(1000)
        await ns.run(drop, 0)
        assert (await ns.read(stamp)) is None  # still referenced by extent 1
        clock.advance(500)
        await ns.run(drop, 1)
        assert (await ns.read(stamp)) == 1500.0
        await ns.run(add, 2)
        assert (await ns.read(stamp)) is None
    finally:
        ns.stop()



def test_a_multi_host_url_is_logged_without_its_password():
    assert describe("postgresql://dfs:secret@db1:5432,db2:5432/dfs?target_session_attrs=read-write") \
        == "postgresql://dfs:***@db1:5432,db2:5432/dfs?target_session_attrs=read-write"
    assert describe("postgresql://dfs@/dfs?host=/a,/b&password=secret&target_session_attrs=read-write") \
        == "postgresql://dfs@/dfs?host=/a,/b&password=***&target_session_attrs=read-write"


def test_the_connection_pools_warnings_go_to_the_namenodes_log(capsys):
    with capturedLogs() as events:
        logging.getLogger("psycopg.pool").warning("error connecting in %r: %s", "dfs-namespace", "connection refused")
    assert [(e["log_level"], formatEvent(e)) for e in events] \
        == [(LogLevel.warn, "namespace connection pool: error connecting in 'dfs-namespace': connection refused")]
    assert capsys.readouterr().err == ""
