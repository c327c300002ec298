"""What one file costs the namespace on PostgreSQL, and a block the namenode's memory: the figures behind "Limits at
10^9 files and 10^3 datanodes" in docs/architecture.md.

    .venv/bin/python bench/postgres_footprint.py                 # 200 puts, then the tables grown to 200,000 files

- transactions, rows written and WAL bytes per small put and per stat, through one namenode of this checkout on a
  throwaway PostgreSQL (tests/postgres.py, durable), one client at a time (no conflicts: the cost of the operation
  itself), and per second with nothing to do (heartbeats of three datanodes, the leader's lease);
- bytes per file of every table and index: the --files puts' rows copied with SQL (new ids, names and block ids, as
  a put makes them) until --rows files exist, then VACUUM and each relation's size divided by the files;
- bytes of the namenode's block registry (which datanode holds which block, in each namenode's memory) per block
  with three replicas, measured with tracemalloc on dfs.namenode.registry.Registry.
"""

import argparse
import os
import time

import psycopg
from namespace_ops import Clients, on_fresh_cluster
from replica_map import measure

from postgres import PostgresServer  # noqa: E402  (namespace_ops put tests/ on the path)

STATS_DELAY = 11  # seconds
COUNTERS = "SELECT xact_commit + xact_rollback, tup_inserted + tup_updated + tup_deleted, " \
           "pg_current_wal_lsn() - '0/0'::pg_lsn FROM pg_stat_database WHERE datname = current_database()"
# Copies of the put files' rows with fresh ids: what the same puts, repeated, would have written.
GROW = """
CREATE TEMP TABLE copies AS
    SELECT d.inode AS old, nextval(pg_get_serial_sequence('inodes', 'id')) AS new, d.parent, d.name, n
    FROM dirents d JOIN inodes i ON i.id = d.inode, generate_series(1, %(copies)s) AS n
    WHERE i.type = 'FILE' AND i.size > 0;
INSERT INTO inodes (id, type, mode, owner, grp, mtime, atime, size, replication, block_size, nlink, target, rdev,
                    acl, ctime)
    SELECT c.new, type, mode, owner, grp, mtime, atime, size, replication, block_size, nlink, target, rdev, acl, ctime
    FROM copies c JOIN inodes i ON i.id = c.old;
INSERT INTO dirents (parent, name, inode) SELECT parent, name || '.' || n, new FROM copies;
INSERT INTO blocks (id, size)
    SELECT encode(sha256((e.block_id || c.n)::bytea), 'hex'), b.size
    FROM copies c JOIN extents e ON e.inode = c.old JOIN blocks b ON b.id = e.block_id;
INSERT INTO extents (inode, seq, block_id, block_offset, length)
    SELECT c.new, e.seq, encode(sha256((e.block_id || c.n)::bytea), 'hex'), e.block_offset, e.length
    FROM copies c JOIN extents e ON e.inode = c.old;
"""
SIZES = """
SELECT c.relname, c.relkind, pg_relation_size(c.oid) + COALESCE(pg_relation_size(c.reltoastrelid), 0)
FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
WHERE s.nspname = current_schema() AND c.relkind IN ('r', 'i') ORDER BY 3 DESC
"""


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--files", type=int, default=200, help="small files put through the namenode (default 200)")
    p.add_argument("--rows", type=int, default=200_000, help="files the tables are grown to (default 200000)")
    p.add_argument("--blocks", type=int, default=100_000, help="blocks in the measured registry (default 100000)")
    return p.parse_args(argv)


def counters(url):
    """Transactions, rows written and WAL bytes so far. Sessions send their statistics at most every 10 s when idle
    (PostgreSQL 15): wait for them first."""
    time.sleep(STATS_DELAY)
    with psycopg.connect(url) as db:
        return db.execute(COUNTERS).fetchone()


def per_op(before, after, ops):
    return {"transactions": (after[0] - before[0]) / ops, "rows written": (after[1] - before[1]) / ops,
            "WAL bytes": (after[2] - before[2]) / ops}


def operations(cluster, args):
    """Transactions, rows and WAL bytes per put and per stat, and per second of idling."""
    url = cluster.namenode.args[cluster.namenode.args.index("--db-url") + 1]
    fs = Clients(cluster.url, 1)
    for d in range(10):
        fs.call("PUT", f"/fp/d{d}", "MKDIRS")
    files = [f"/fp/d{i % 10}/f{i:06d}" for i in range(args.files)]
    figures = {}
    before = counters(url)
    figures["idle, per second"] = per_op(before, counters(url), STATS_DELAY)
    before = counters(url)
    fs.run(lambda path: fs.create(path, os.urandom(4096)), files)
    figures["put of 4 KiB"] = per_op(before, counters(url), len(files))
    before = counters(url)
    fs.run(lambda path: fs.call("GET", path, "GETFILESTATUS"), files)
    figures["stat"] = per_op(before, counters(url), len(files))
    return url, figures


def footprint(url, args):
    """Bytes per file of each table and index once the namespace holds ``args.rows`` files."""
    with psycopg.connect(url, autocommit=True) as db:
        files = db.execute("SELECT count(*) FROM inodes WHERE type = 'FILE' AND size > 0").fetchone()[0]
        with db.transaction():
            db.execute("SET LOCAL dfs.commit = '1'")
            for statement in GROW.split(";")[:-1]:
                db.execute(statement, {"copies": max(1, args.rows // files - 1)} if "%(" in statement else None)
        db.execute("VACUUM ANALYZE")
        total = db.execute("SELECT count(*) FROM inodes WHERE type = 'FILE' AND size > 0").fetchone()[0]
        sizes = db.execute(SIZES).fetchall()
    return total, [(name, kind, size / total) for name, kind, size in sizes if size / total >= 1]


def main(argv=None):
    args = parse_args(argv)
    server = PostgresServer(durable=True).start()
    try:
        results = {}

        def measure(cluster, _database_pid):
            url, results["operations"] = operations(cluster, args)
            results["files"], results["sizes"] = footprint(url, args)
            return results

        on_fresh_cluster(measure, "postgresql", server)
    finally:
        server.stop()
    print("| operation | transactions | rows written | WAL bytes |\n|---|---|---|---|")
    for name, figures in results["operations"].items():
        print(f"| {name} | {figures['transactions']:.2f} | {figures['rows written']:.1f} | "
              f"{figures['WAL bytes']:.0f} |")
    print(f"\n{results['files']} files of one block each; bytes per file:\n\n| relation | kind | bytes per file |\n"
          f"|---|---|---|")
    for name, kind, size in results["sizes"]:
        print(f"| {name} | {'index' if kind == 'i' else 'table'} | {size:.0f} |")
    print(f"| all | | {sum(size for _, _, size in results['sizes']):.0f} |")
    print(f"\nregistry: {measure(3 * args.blocks, 3, 3)[0] * 3:.0f} bytes per block with 3 replicas, in each namenode")


if __name__ == "__main__":
    main()
