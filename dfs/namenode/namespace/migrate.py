"""Copying a whole namespace from one database to another (SQLite <-> PostgreSQL), with the namenode stopped, and
proving the copy: `dfs admin migrate`.

Nothing here names a table of the namespace. The tables, their columns and their foreign keys are read from each
database's catalog, so a table a later schema adds is copied and verified like the others. Rows keep their ids
(inode ids, block ids), so the datanodes' blocks stay referenced; PostgreSQL's sequences are moved past them.
"""

import hashlib
import os
import sqlite3
import time

from dfs.errors import IOFailure
from dfs.namenode.namespace import schema, sqlite
from dfs.namenode.namespace.backends import SQLITE, describe, is_postgres

BATCH = 1000  # rows per round trip
DIGEST_MODULUS = 2 ** 256
# Each database keeps its own record of the schema files applied to it: not copied.
OWN_TABLES = {"schema_version"}


class Refused(IOFailure):
    """The migration did not start: nothing was written to the target."""


class Mismatch(IOFailure):
    """The copy differs from its source: it was rolled back, the target holds what it held before."""


def migrate(source, target, replace=False, progress=None):
    """Copy the namespace at ``source`` to ``target`` (each an SQLite path, a ``sqlite://`` URL or a
    ``postgresql://`` URL) in one transaction of the target, verified before it commits; returns {table: rows}.
    A target holding rows is refused unless ``replace``, when they are deleted first. ``progress(done, total)`` is
    called as rows are copied."""
    progress = progress or (lambda done, total: None)
    with _open(source, create=False) as src, _open(target, create=True) as dst:
        _check_version(src, "source")
        if dst.version() == 0:
            dst.create()
        _check_version(dst, "target")
        tables = src.tables()
        if dst.tables() != tables:
            raise Refused(f"the schemas differ: {_schema_difference(tables, dst.tables())}")
        references = src.references()
        for table, parents in dst.references().items():  # a key one engine's schema declares and the other's not
            references.setdefault(table, set()).update(parents)
        order = dependency_order(tables, references)
        src.begin(write=False)
        dst.begin(write=True)
        try:
            counts = {table: src.count(table) for table in order}
            held = dst.count("inodes")  # a new schema holds seed rows (history's commit 0) but no namespace yet
            if held and not replace:
                raise Refused(f"the target {dst.name} is not empty ({held} inodes): pass --replace to overwrite it")
            dst.clear(order)
            _copy(src, dst, order, tables, counts, progress)
            verify(src, dst, order, tables)
            dst.commit()
        except BaseException:
            dst.rollback()
            raise
        return counts


def _copy(src, dst, order, tables, counts, progress):
    """Every row of every table, parents before children; the target's triggers off meanwhile, so rows arrive as
    they were, not as a trigger would make them."""
    total, done = sum(counts.values()), 0
    progress(done, total)
    suspended = dst.suspend_triggers()
    for table in order:
        columns = sorted(tables[table])
        for batch in _batches(src.rows(table, columns)):
            dst.insert(table, columns, batch)
            done += len(batch)
            progress(done, total)
    dst.restore_triggers(suspended)
    dst.after_copy(tables)


def verify(src, dst, order, tables):
    """Compare each table's row count and checksum on both sides (in their open transactions); Mismatch names the
    tables that differ. The extents' checksum covers every inode's extents, the inodes' every name's owner, mode and
    times, and so on for whatever the schema holds."""
    differing = []
    for table in order:
        columns = sorted(tables[table])
        mine, theirs = table_digest(src.rows(table, columns)), table_digest(dst.rows(table, columns))
        if mine != theirs:
            differing.append(f"{table} ({mine[0]} rows, checksum {mine[1][:12]} in the source;"
                             f" {theirs[0]} rows, checksum {theirs[1][:12]} in the target)")
    if differing:
        raise Mismatch(f"the copy differs from its source, nothing was kept: {'; '.join(differing)}")


def digests(location):
    """{table: (rows, checksum)} of the namespace at ``location``, as ``verify`` compares them."""
    with _open(location, create=False) as db:
        tables = db.tables()
        db.begin(write=False)
        try:
            return {table: table_digest(db.rows(table, sorted(columns))) for table, columns in tables.items()}
        finally:
            db.rollback()


def table_digest(rows):
    """(rows, checksum) of a table: the sum of the rows' SHA-256s, so the order rows come in does not matter (the
    two engines sort text differently) and nothing needs to be held in memory."""
    count, total = 0, 0
    for row in rows:
        count += 1
        total += int.from_bytes(hashlib.sha256(repr(tuple(map(_canonical, row))).encode()).digest(), "big")
    return count, f"{total % DIGEST_MODULUS:064x}"


def _canonical(value):
    """A value as both engines' drivers hand it back: bytes for a blob (psycopg may give a memoryview), an int for
    a boolean (SQLite has none)."""
    if isinstance(value, memoryview):
        return bytes(value)
    if isinstance(value, bool):
        return int(value)
    return value


def dependency_order(tables, references):
    """The tables, each after every table its foreign keys refer to (then by name, so the order is stable)."""
    order, placed = [], set()
    waiting = sorted(tables)
    while waiting:
        ready = [t for t in waiting if references.get(t, set()) - {t} <= placed]
        if not ready:
            raise Refused(f"the foreign keys of {', '.join(waiting)} form a cycle: no order to copy them in")
        order += ready
        placed.update(ready)
        waiting = [t for t in waiting if t not in placed]
    return order


def _schema_difference(source, target):
    only = [f"table {t} only in the {side}" for side, a, b in (("source", source, target), ("target", target, source))
            for t in sorted(set(a) - set(b))]
    columns = [f"{t} has columns {sorted(source[t])} in the source, {sorted(target[t])} in the target"
               for t in sorted(set(source) & set(target)) if source[t] != target[t]]
    return "; ".join(only + columns)


def _check_version(db, role):
    version, known = db.version(), db.latest()
    if version == 0:
        raise Refused(f"the {role} {db.name} holds no namespace")
    if version != known:
        raise Refused(f"the {role} {db.name} has schema version {version}, this dfs knows {known}: upgrade it first"
                      " (start this release's namenode on it once, then stop it)")


def _batches(rows):
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _quoted(name):
    return '"' + name.replace('"', '""') + '"'


def exclusive_sqlite(path):
    """The SQLite database at ``path`` held exclusively (a context manager); Refused while a namenode has it open."""
    return _SQLite(path, create=False)


def _open(location, create):
    return _Postgres(location) if is_postgres(location) else _SQLite(location, create)


class _SQLite:
    """An SQLite database, held in exclusive locking mode from the start: a namenode that has it open makes that
    fail (its connection holds a shared lock), and a namenode that starts meanwhile cannot open it."""

    def __init__(self, location, create):
        self.path = location.removeprefix(SQLITE)
        self.name = describe(location)
        if not create and not os.path.exists(self.path):
            raise Refused(f"the source {self.name} does not exist")
        self.db = sqlite3.connect(self.path, isolation_level=None, timeout=0)
        try:
            self.db.create_function("gc_now", 0, time.time)
            self.db.execute("PRAGMA locking_mode=EXCLUSIVE")
            self.db.execute("BEGIN EXCLUSIVE")  # the lock stays after the transaction, until the connection closes
            self.db.execute("COMMIT")
        except sqlite3.OperationalError as e:
            self.db.close()
            if "locked" in str(e):
                raise Refused(f"{self.name} is open in another process: stop the namenode first") from None
            raise IOFailure(f"cannot open {self.name}: {e}") from None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.db.close()

    def version(self):
        return sqlite.schema_version(self.db)[0]

    def latest(self):
        return schema.latest("sqlite")

    def create(self):
        self.db.execute("PRAGMA journal_mode=WAL")
        sqlite.upgrade(self.db)

    def tables(self):
        names = [name for (name,) in self.db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite!_%' ESCAPE '!'")]
        return {name: {row[1] for row in self.db.execute(f"PRAGMA table_info({_quoted(name)})")}
                for name in names if name not in OWN_TABLES}

    def references(self):
        return {name: {row[2] for row in self.db.execute(f"PRAGMA foreign_key_list({_quoted(name)})")}
                for name in self.tables()}

    def begin(self, write):
        self.db.execute("BEGIN IMMEDIATE" if write else "BEGIN")

    def count(self, table):
        return self.db.execute(f"SELECT COUNT(*) FROM {_quoted(table)}").fetchone()[0]

    def rows(self, table, columns):
        return self.db.execute(f"SELECT {', '.join(map(_quoted, columns))} FROM {_quoted(table)}")

    def insert(self, table, columns, rows):
        self.db.executemany(f"INSERT INTO {_quoted(table)} ({', '.join(map(_quoted, columns))})"
                            f" VALUES ({', '.join('?' * len(columns))})", rows)

    def clear(self, order):
        for table in reversed(order):
            self.db.execute(f"DELETE FROM {_quoted(table)}")

    def suspend_triggers(self):
        """Drop the triggers (SQLite cannot turn one off), in the copy's transaction; their definitions, to put
        back."""
        triggers = self.db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").fetchall()
        for name, _ in triggers:
            self.db.execute(f"DROP TRIGGER {_quoted(name)}")
        return [sql for _, sql in triggers]

    def restore_triggers(self, suspended):
        for sql in suspended:
            self.db.execute(sql)

    def after_copy(self, tables):
        """Nothing: an INTEGER PRIMARY KEY continues after the largest id there is."""

    def commit(self):
        self.db.execute("COMMIT")

    def rollback(self):
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")


class _Postgres:
    """A PostgreSQL database; a namenode using it is seen by its sessions' application_name."""

    def __init__(self, location):
        import psycopg

        from dfs.namenode.namespace import postgres

        self.psycopg, self.postgres = psycopg, postgres
        self.name = describe(location)
        try:
            self.db = psycopg.connect(location, connect_timeout=int(postgres.CONNECT_TIMEOUT),
                                      application_name="dfs-migrate")
        except psycopg.OperationalError as e:
            raise Refused(f"cannot connect to {self.name}: {e}") from None
        users = self.db.execute("SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database()"
                                " AND application_name = %s AND pid != pg_backend_pid()",
                                (postgres.APPLICATION,)).fetchone()[0]
        self.db.rollback()
        if users:
            self.db.close()
            raise Refused(f"a namenode is using {self.name} ({users} sessions): stop the namenode first")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.db.close()

    def version(self):
        recorded = self.db.execute("SELECT to_regclass('schema_version') IS NOT NULL").fetchone()[0]
        return self.db.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0] \
            if recorded else 0

    def latest(self):
        return schema.latest("postgres")

    def create(self):
        self.postgres.upgrade(self.db)

    def tables(self):
        found = {}
        for table, column in self.db.execute(
                "SELECT c.table_name, c.column_name FROM information_schema.columns AS c"
                " JOIN information_schema.tables AS t USING (table_schema, table_name)"
                " WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'"):
            if table not in OWN_TABLES:
                found.setdefault(table, set()).add(column)
        return found

    def references(self):
        found = {}
        for table, parent in self.db.execute(
                "SELECT conrelid::regclass::text, confrelid::regclass::text FROM pg_constraint"
                " WHERE contype = 'f' AND connamespace = current_schema()::regnamespace"):
            found.setdefault(table, set()).add(parent)
        return found

    def begin(self, write):
        """A read sees one snapshot; a write locks every table, so nothing else writes meanwhile."""
        self.db.rollback()  # the catalog's queries opened a transaction; this one has its own isolation
        self.db.isolation_level = self.psycopg.IsolationLevel.REPEATABLE_READ
        self.db.read_only = not write
        if write:
            tables = ", ".join(map(_quoted, self.tables()))
            self.db.execute(f"LOCK TABLE {tables} IN ACCESS EXCLUSIVE MODE")

    def count(self, table):
        return self.db.execute(f"SELECT COUNT(*) FROM {_quoted(table)}").fetchone()[0]

    def rows(self, table, columns):
        """The rows from a server-side cursor: a large table is never held whole."""
        cursor = self.db.cursor(name=f"rows_{table}")
        cursor.itersize = BATCH
        cursor.execute(f"SELECT {', '.join(map(_quoted, columns))} FROM {_quoted(table)}")
        try:
            yield from cursor
        finally:
            cursor.close()

    def insert(self, table, columns, rows):
        """Rows in by COPY (one round trip a batch); ids are taken as given, identity columns included."""
        with self.db.cursor().copy(f"COPY {_quoted(table)} ({', '.join(map(_quoted, columns))}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def clear(self, order):
        self.db.execute(f"TRUNCATE {', '.join(map(_quoted, order))}")

    def suspend_triggers(self):
        tables = self.tables()
        for table in tables:
            self.db.execute(f"ALTER TABLE {_quoted(table)} DISABLE TRIGGER USER")
        return tables

    def restore_triggers(self, suspended):
        for table in suspended:
            self.db.execute(f"ALTER TABLE {_quoted(table)} ENABLE TRIGGER USER")

    def after_copy(self, tables):
        """Move every sequence (identity and serial columns) past the largest id copied, so new inodes get new
        ids."""
        sequences = self.db.execute(
            "SELECT table_name, column_name, pg_get_serial_sequence(quote_ident(table_name), column_name)"
            " FROM information_schema.columns WHERE table_schema = current_schema()"
            " AND pg_get_serial_sequence(quote_ident(table_name), column_name) IS NOT NULL").fetchall()
        for table, column, sequence in sequences:
            self.db.execute(f"SELECT setval(%s, MAX({_quoted(column)})) FROM {_quoted(table)}"
                            f" HAVING MAX({_quoted(column)}) IS NOT NULL", (sequence,))

    def commit(self):
        self.db.commit()

    def rollback(self):
        self.db.rollback()
