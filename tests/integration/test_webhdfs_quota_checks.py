"""Quotas HDFS checks that only some operations touch: the quota by storage type DISK (SETQUOTABYSTORAGETYPE),
CONCAT moving bytes into a directory with a quota, SETREPLICATION adding replicas, TRUNCATE (which only shrinks)."""

from test_webhdfs import op
from test_webhdfs_quotas import _create, _ok, _refused


def test_a_quota_by_storage_type_disk_counts_as_the_space_quota(cluster, unique_dir):
    q = unique_dir + "/q"
    _ok(op(cluster, "PUT", q, "MKDIRS"))
    assert _ok(op(cluster, "PUT", q, "SETQUOTABYSTORAGETYPE", storagetype="DISK", storagespacequota=3000)).content \
        == b""
    assert _create(cluster, q + "/a", b"x" * 1000, replication=2).status_code == 201
    usage = _ok(op(cluster, "GET", q, "GETQUOTAUSAGE")).json()["QuotaUsage"]
    assert usage["typeQuota"] == {"DISK": {"consumed": 2000, "quota": 3000}} and usage["spaceQuota"] == -1
    summary = _ok(op(cluster, "GET", q, "GETCONTENTSUMMARY")).json()["ContentSummary"]
    assert summary["typeQuota"] == {"DISK": {"consumed": 2000, "quota": 3000}}
    _refused(_create(cluster, q + "/b", b"x" * 1000, replication=2), "QuotaByStorageTypeExceededException",
             f"Quota by storage type : DISK on path : {q} is exceeded. quota = 2.93 KB but space consumed ="
             " 3.91 KB")
    r = op(cluster, "PUT", q, "SETQUOTABYSTORAGETYPE", storagetype="SSD", storagespacequota=10)
    assert r.status_code == 400 and "every dfs block is on DISK" in r.json()["RemoteException"]["message"]
    _ok(op(cluster, "PUT", q, "SETQUOTABYSTORAGETYPE", storagetype="disk", storagespacequota=-1))
    assert _ok(op(cluster, "GET", q, "GETQUOTAUSAGE")).json()["QuotaUsage"]["typeQuota"] == {}
    assert _create(cluster, q + "/b", b"x" * 1000, replication=2).status_code == 201


def test_concat_into_a_directory_with_a_space_quota(cluster, unique_dir):
    q = unique_dir + "/q"
    assert _create(cluster, q + "/target", b"t" * 100, replication=1).status_code == 201
    assert _create(cluster, unique_dir + "/big", b"b" * 1000, replication=1).status_code == 201
    assert _create(cluster, q + "/small", b"s" * 500, replication=1).status_code == 201
    _ok(op(cluster, "PUT", q, "SETQUOTA", storagespacequota=1000))
    _refused(op(cluster, "POST", q + "/target", "CONCAT", sources=unique_dir + "/big"), "DSQuotaExceededException",
             f"The DiskSpace quota of {q} is exceeded: quota = 1000 B = 1000 B but diskspace consumed = 1600 B ="
             " 1.56 KB")
    assert _ok(op(cluster, "GET", unique_dir + "/big", "GETFILESTATUS")).json()["FileStatus"]["length"] == 1000
    _ok(op(cluster, "POST", q + "/target", "CONCAT", sources=q + "/small"))  # within the directory: no growth
    assert _ok(op(cluster, "GET", q, "GETQUOTAUSAGE")).json()["QuotaUsage"]["spaceConsumed"] == 600


def test_setreplication_counts_the_new_replicas(cluster, unique_dir):
    q = unique_dir + "/q"
    assert _create(cluster, q + "/f", b"x" * 1000, replication=1).status_code == 201
    _ok(op(cluster, "PUT", q, "SETQUOTA", storagespacequota=2500))
    _refused(op(cluster, "PUT", q + "/f", "SETREPLICATION", replication=3), "DSQuotaExceededException",
             f"The DiskSpace quota of {q} is exceeded: quota = 2500 B = 2.44 KB but diskspace consumed = 3000 B ="
             " 2.93 KB")
    assert _ok(op(cluster, "GET", q + "/f", "GETFILESTATUS")).json()["FileStatus"]["replication"] == 1
    assert _ok(op(cluster, "PUT", q + "/f", "SETREPLICATION", replication=2)).json() == {"boolean": True}
    assert _ok(op(cluster, "PUT", q + "/f", "SETREPLICATION", replication=1)).json() == {"boolean": True}


def test_truncate_shrinks_past_a_quota_and_grows_only_within_it(cluster, unique_dir):
    """A directory over its quota (set below its usage) may still shrink, as in HDFS; growing (dfs's sparse files:
    a hole at the end, counted in the space consumed like the rest of the length) is checked like any write."""
    q = unique_dir + "/q"
    assert _create(cluster, q + "/f", b"x" * 1000, replication=2).status_code == 201
    _ok(op(cluster, "PUT", q, "SETQUOTA", storagespacequota=100))
    assert _ok(op(cluster, "POST", q + "/f", "TRUNCATE", newlength=400)).json() == {"boolean": True}
    assert _ok(op(cluster, "GET", q, "GETQUOTAUSAGE")).json()["QuotaUsage"]["spaceConsumed"] == 800
    _refused(op(cluster, "POST", q + "/f", "TRUNCATE", newlength=500), "DSQuotaExceededException",
             f"The DiskSpace quota of {q} is exceeded: quota = 100 B = 100 B but diskspace consumed = 1000 B ="
             " 1000 B")
    _ok(op(cluster, "PUT", q, "SETQUOTA", storagespacequota=1000))
    assert _ok(op(cluster, "POST", q + "/f", "TRUNCATE", newlength=500)).json() == {"boolean": True}
