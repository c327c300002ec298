"""Directory quotas over WebHDFS (Hadoop 3.3's SETQUOTA): a name quota and a space quota (replicas counted),
refused as HDFS refuses them in the namespace transaction, reported by GETCONTENTSUMMARY and GETQUOTAUSAGE."""

from concurrent.futures import ThreadPoolExecutor

import requests
from test_webhdfs import op, put_file


def _ok(r):
    assert r.status_code == 200, r.text
    return r


def _refused(r, exception, message):
    assert r.status_code == 403, r.text
    remote = r.json()["RemoteException"]
    assert (remote["exception"], remote["message"]) == (exception, message)


def _create(cluster, path, data=b"", **params):
    return requests.put(f"{cluster.url}/webhdfs/v1{path}", params={"op": "CREATE", "data": "true", **params},
                        data=data, headers={"Content-Type": "application/octet-stream"}, timeout=60)


def _quotas(cluster, path):
    summary = _ok(op(cluster, "GET", path, "GETCONTENTSUMMARY")).json()["ContentSummary"]
    usage = _ok(op(cluster, "GET", path, "GETQUOTAUSAGE")).json()["QuotaUsage"]
    assert (usage["quota"], usage["spaceQuota"]) == (summary["quota"], summary["spaceQuota"])
    return summary["quota"], summary["spaceQuota"]


def test_a_name_quota_counts_the_directory_and_everything_below(cluster, unique_dir):
    q = unique_dir + "/q"
    _ok(op(cluster, "PUT", q, "MKDIRS"))
    assert _ok(op(cluster, "PUT", q, "SETQUOTA", namespacequota=3)).content == b""
    assert _quotas(cluster, q) == (3, -1)
    assert _create(cluster, q + "/a").status_code == 201
    _ok(op(cluster, "PUT", q + "/sub", "MKDIRS"))
    message = f"The NameSpace quota (directories and files) of directory {q} is exceeded: quota=3 file count=4"
    _refused(_create(cluster, q + "/b"), "NSQuotaExceededException", message)
    _refused(op(cluster, "PUT", q + "/sub/deeper", "MKDIRS"), "NSQuotaExceededException", message)
    assert _create(cluster, unique_dir + "/outside").status_code == 201
    _refused(op(cluster, "PUT", unique_dir + "/outside", "COPY", destination=q + "/c"), "NSQuotaExceededException",
             message)
    _refused(op(cluster, "PUT", unique_dir + "/outside", "RENAME", destination=q + "/c"), "NSQuotaExceededException",
             message)
    assert _create(cluster, q + "/a", b"replaced", overwrite="true").status_code == 201  # no new name
    _ok(op(cluster, "PUT", q + "/a", "RENAME", destination=q + "/sub/a"))  # within the directory
    names = [s["pathSuffix"] for s in _ok(op(cluster, "GET", q, "LISTSTATUS")).json()["FileStatuses"]["FileStatus"]]
    assert names == ["sub"]
    _ok(op(cluster, "PUT", q, "SETQUOTA", namespacequota=-1))
    assert _quotas(cluster, q) == (-1, -1)
    assert _create(cluster, q + "/b").status_code == 201


def test_a_space_quota_counts_every_replica(cluster, unique_dir):
    q = unique_dir + "/q"
    _ok(op(cluster, "PUT", q, "MKDIRS"))
    _ok(op(cluster, "PUT", q, "SETQUOTA", storagespacequota=2000))
    assert _quotas(cluster, q) == (-1, 2000)
    assert _create(cluster, q + "/f", b"x" * 600, replication=2).status_code == 201
    message = (f"The DiskSpace quota of {q} is exceeded: quota = 2000 B = 1.95 KB but diskspace consumed ="
               " 2200 B = 2.15 KB")
    r = requests.post(f"{cluster.url}/webhdfs/v1{q}/f", params={"op": "APPEND", "data": "true"}, data=b"y" * 500,
                      headers={"Content-Type": "application/octet-stream"}, timeout=60)
    _refused(r, "DSQuotaExceededException", message)
    assert _ok(op(cluster, "GET", q + "/f", "GETFILESTATUS")).json()["FileStatus"]["length"] == 600
    _refused(_create(cluster, q + "/g", b"z" * 500, replication=2), "DSQuotaExceededException", message)
    assert _create(cluster, q + "/g", b"z" * 400, replication=2).status_code == 201  # exactly at the quota
    usage = _ok(op(cluster, "GET", q, "GETQUOTAUSAGE")).json()["QuotaUsage"]
    assert usage == {"fileAndDirectoryCount": 3, "quota": -1, "spaceConsumed": 2000, "spaceQuota": 2000,
                     "typeQuota": {}}


def test_concurrent_creates_at_the_limit(cluster, unique_dir):
    """The check and the change are one transaction: of 12 creates racing for 5 free names, exactly 5 commit."""
    q = unique_dir + "/q"
    _ok(op(cluster, "PUT", q, "MKDIRS"))
    _ok(op(cluster, "PUT", q, "SETQUOTA", namespacequota=6))
    with ThreadPoolExecutor(12) as pool:
        statuses = list(pool.map(lambda i: _create(cluster, f"{q}/f{i}", b"d").status_code, range(12)))
    assert sorted(statuses) == [201] * 5 + [403] * 7
    assert _ok(op(cluster, "GET", q, "GETCONTENTSUMMARY")).json()["ContentSummary"]["fileCount"] == 5


def test_quota_values_and_targets_as_hdfs_checks_them(cluster, unique_dir):
    put_file(cluster, unique_dir + "/f", b"data")
    r = op(cluster, "PUT", unique_dir + "/f", "SETQUOTA", namespacequota=10)
    assert r.status_code == 403 and r.json()["RemoteException"]["message"] == f"`{unique_dir}/f': Is not a directory"
    assert op(cluster, "PUT", unique_dir, "SETQUOTA", namespacequota=-2).status_code == 400
    assert op(cluster, "PUT", unique_dir + "/none", "SETQUOTA", namespacequota=5).status_code == 404
    _ok(op(cluster, "PUT", unique_dir, "SETQUOTA", namespacequota=100, storagespacequota=10 ** 9))
    _ok(op(cluster, "PUT", unique_dir, "SETQUOTA", storagespacequota=-1))  # the name quota stays
    assert _quotas(cluster, unique_dir) == (100, -1)


def _blocks(cluster):
    return set().union(*(cluster.block_files(i) for i in range(len(cluster.datanodes))))


def test_a_write_past_a_quota_is_refused_before_any_byte_is_stored(cluster, unique_dir):
    """With the body's length known, CREATE and APPEND are checked before the fan-out starts: no block is written."""
    q = unique_dir + "/q"
    _ok(op(cluster, "PUT", q, "MKDIRS"))
    _ok(op(cluster, "PUT", q, "SETQUOTA", storagespacequota=1000))
    assert _create(cluster, q + "/f", b"a" * 400, replication=2).status_code == 201
    before = _blocks(cluster)
    unique = bytes(range(256)) * 2 + unique_dir.encode()  # bytes no other file has, so no block is shared
    _refused(_create(cluster, q + "/g", unique, replication=2), "DSQuotaExceededException",
             f"The DiskSpace quota of {q} is exceeded: quota = 1000 B = 1000 B but diskspace consumed ="
             f" {800 + 2 * len(unique)} B = {(800 + 2 * len(unique)) / 1024:.2f} KB")
    r = requests.post(f"{cluster.url}/webhdfs/v1{q}/f", params={"op": "APPEND", "data": "true"}, data=unique,
                      headers={"Content-Type": "application/octet-stream"}, timeout=60)
    assert r.status_code == 403 and r.json()["RemoteException"]["exception"] == "DSQuotaExceededException"
    assert _blocks(cluster) <= before
    _ok(op(cluster, "PUT", q, "SETQUOTA", namespacequota=2))
    _refused(_create(cluster, q + "/h", unique), "NSQuotaExceededException",
             f"The NameSpace quota (directories and files) of directory {q} is exceeded: quota=2 file count=3")
    assert _blocks(cluster) <= before
