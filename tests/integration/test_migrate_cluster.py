"""`dfs admin migrate` with real processes: a namespace of thousands of files a namenode made on SQLite moves to
PostgreSQL, a namenode on PostgreSQL serves every file's bytes from the same datanodes, and the way back to a new
SQLite file gives the same namespace, table by table."""

import getpass
import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import requests

from dfs.namenode.namespace import migrate as migration

FILES = int(os.environ.get("MIGRATE_FILES", 1000))  # 5,000 took 5-9 min on a loaded CI machine
DIRECTORIES = 50
OCTETS = {"Content-Type": "application/octet-stream"}


def content(n):
    return f"file {n}\n".encode() * (1 + n % 7)


def path(n):
    return f"/data/d{n % DIRECTORIES}/f{n}"


def write(url, n, session):
    response = session.put(f"{url}/webhdfs/v1{path(n)}", params={"op": "CREATE", "data": "true"}, data=content(n),
                           headers=OCTETS, timeout=120)
    assert response.status_code == 201, response.text


def each_file(url, action):
    """``action(url, n, session)`` for every file, from a few threads (a session each: kept-alive connections)."""
    local = threading.local()

    def run(n):
        if not hasattr(local, "session"):
            local.session = requests.Session()
        return action(url, n, local.session)

    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(run, range(FILES)))


def read(url, n, session):
    return session.get(f"{url}/webhdfs/v1{path(n)}", params={"op": "OPEN"}, timeout=120).content == content(n)


def dfs(*args, namenode=None):
    env = dict(os.environ, DFS_NAMENODE_URL=namenode or "http://127.0.0.1:1")
    return subprocess.run([sys.executable, "-m", "dfs.cli", *args], capture_output=True, text=True, timeout=600,
                          env=env)


def call(cluster, method, path, op, **params):
    response = requests.request(method, f"{cluster.url}/webhdfs/v1{path}", params={"op": op, **params}, timeout=120)
    assert response.status_code == 200, response.text
    return response


def test_a_namespace_of_thousands_of_files_moves_to_postgresql_and_back(make_cluster, postgres_url, tmp_path):
    cluster = make_cluster(datanodes=2, namenode_args=["--replication", "2"])
    each_file(cluster.url, write)
    call(cluster, "PUT", path(1), "LINK", destination="/data/hard")
    call(cluster, "PUT", "/data/sym", "CREATESYMLINK", destination=path(2))
    call(cluster, "PUT", path(3), "SETXATTR", **{"xattr.name": "user.colour", "xattr.value": "blue",
                                                 "flag": "CREATE"})
    call(cluster, "PUT", "/data", "SETQUOTA", namespacequota=100_000, storagespacequota=1 << 40)
    removed = dfs("rm", path(4), namenode=cluster.url)
    assert removed.returncode == 0, removed.stderr
    trashed = f"/user/{getpass.getuser()}/.Trash/Current" + path(4)  # the CLI names its login user
    cluster.namenode.stop()
    sqlite_db = os.path.join(cluster.root, "namenode.sqlite")

    moved = dfs("admin", "migrate", "--from", "sqlite://" + sqlite_db, "--to", postgres_url)
    assert moved.returncode == 0, moved.stderr
    assert "verified" in moved.stdout
    again = dfs("admin", "migrate", "--from", sqlite_db, "--to", postgres_url)
    assert again.returncode == 1 and "not empty" in again.stderr

    cluster.namenode.args += ["--db-url", postgres_url]  # wins over --db
    cluster.namenode.restart_on_same_port()
    cluster.wait_for(lambda s: s["totals"]["alive"] == 2 and not s["totals"]["safemode"], timeout=120)
    assert each_file(cluster.url, read).count(False) == 1  # the file in the trash is not at its path
    assert call(cluster, "GET", trashed, "OPEN").content == content(4)
    assert call(cluster, "GET", "/data/hard", "OPEN").content == content(1)
    assert call(cluster, "GET", "/data/sym", "GETFILESTATUS").json()["FileStatus"]["symlink"] == path(2)
    xattrs = call(cluster, "GET", path(3), "GETXATTRS", encoding="text").json()["XAttrs"]
    assert xattrs == [{"name": "user.colour", "value": '"blue"'}]
    assert call(cluster, "GET", "/data", "GETQUOTAUSAGE").json()["QuotaUsage"]["quota"] == 100_000
    assert cluster.fsck()["totals"]["status"] == "HEALTHY"
    cluster.namenode.stop()

    back = str(tmp_path / "back.sqlite")
    result = dfs("admin", "migrate", "--from", postgres_url, "--to", "sqlite://" + back)
    assert result.returncode == 0, result.stderr
    before, after = migration.digests(sqlite_db), migration.digests(back)
    assert after["inodes"][0] >= FILES
    # the namenode on PostgreSQL registered the datanodes again (their URLs) and may have stamped access times;
    # the files, names, extents, blocks, xattrs and quotas are as the namenode on SQLite left them
    for table in ("dirents", "extents", "blocks", "xattrs", "quotas", "meta"):
        assert after[table] == before[table], table
