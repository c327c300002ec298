"""Quotas on both backends for the changes that add replicas or move bytes: the quota by storage type DISK,
SETREPLICATION and CONCAT (refused in their own transaction, nothing changed)."""

import pytest

from dfs.errors import DSQuotaExceeded, NSQuotaExceeded, QuotaByStorageTypeExceeded
from dfs.namenode.namespace.model import Extent
from test_metadata import A, result


def _file(store, path, size, replication):
    return result(store.create(path, [Extent(A, 0, size, size)], overwrite=False, replication=replication))


def test_disk_quota_setreplication_and_concat(namespace):
    _file(namespace, "/q/f", 100, 1)
    _file(namespace, "/big", 300, 1)
    result(namespace.set_quota("/q", disk=250))
    assert result(namespace.content_summary("/q")).disk_quota == 250
    with pytest.raises(QuotaByStorageTypeExceeded, match="Quota by storage type : DISK on path : /q is exceeded"):
        result(namespace.set_replication("/q/f", 3))
    assert result(namespace.stat("/q/f"))[0].replication == 1
    result(namespace.set_quota("/q", space=250, disk=-1))
    with pytest.raises(DSQuotaExceeded):
        result(namespace.set_replication("/q/f", 3))
    assert result(namespace.set_replication("/q/f", 2))
    with pytest.raises(DSQuotaExceeded):
        result(namespace.concat("/q/f", ["/big"]))
    assert result(namespace.stat("/big"))[0].size == 300
    assert result(namespace.content_summary("/q")).space_consumed == 200


def test_links_symlinks_and_special_files_count_against_quotas(namespace):
    """A hard link, a symlink or a fifo is a name, and a hard link brings its file's bytes into the directory:
    each used to pass any quota (a 10 GB file linked into a 300 B quota, a name quota of 1 holding three)."""
    _file(namespace, "/free/big", 1000, 3)
    result(namespace.mkdirs("/q"))
    result(namespace.set_quota("/q", names=2, space=300))
    with pytest.raises(DSQuotaExceeded):
        result(namespace.link("/free/big", "/q/big"))
    result(namespace.symlink("/free/big", "/q/link"))  # /q and the link: two names
    with pytest.raises(NSQuotaExceeded):
        result(namespace.mknod("/q/fifo", "FIFO", 0o644))
    with pytest.raises(NSQuotaExceeded):
        result(namespace.symlink("/free/big", "/q/other"))
    summary = result(namespace.content_summary("/q"))
    assert (summary.files, summary.directories, summary.space_consumed) == (1, 1, 0)
