"""Snapshots and past reads over WebHDFS, in memory: Hadoop's ops and JSON shapes, read-only snapshots, ``at=``."""

import re

import pytest
import pytest_twisted
from treq.testing import StubTreq

from dfs.namenode.namespace.model import Extent

from test_metadata import result
from test_namespace_history import a_moment_between
from test_namenode_app import call

A, B = "a" * 64, "b" * 64


@pytest.fixture
def http(namenode_app):
    store = namenode_app.store
    result(store.create("/d/f", [Extent(A, 0, 10, 10)], overwrite=False))
    result(store.mkdirs("/d/sub"))
    return StubTreq(namenode_app.resource())


async def names(http, path, **params):
    code, body = await call(http, "GET", path, op="LISTSTATUS", **params)
    assert code == 200, body
    return [entry["pathSuffix"] for entry in body["FileStatuses"]["FileStatus"]]


@pytest_twisted.ensureDeferred
async def test_snapshot_ops_and_reads(http):
    code, body = await call(http, "PUT", "/d", op="CREATESNAPSHOT", snapshotname="s1")
    assert code == 403 and body["RemoteException"]["exception"] == "SnapshotException"
    assert (await http.put("http://nn/webhdfs/v1/d?op=ALLOWSNAPSHOT")).code == 200
    code, body = await call(http, "GET", "/", op="LISTSTATUS")
    assert body["FileStatuses"]["FileStatus"][0]["snapshotEnabled"] is True
    assert await call(http, "PUT", "/d", op="CREATESNAPSHOT", snapshotname="s1") == (200, {"Path": "/d/.snapshot/s1"})
    code, body = await call(http, "PUT", "/d", op="CREATESNAPSHOT")
    assert re.fullmatch(r"/d/\.snapshot/s\d{8}-\d{6}\.\d{3}", body["Path"])
    assert await call(http, "DELETE", "/d/f", op="DELETE") == (200, {"boolean": True})
    assert await names(http, "/d") == ["sub"]
    assert await names(http, "/d/.snapshot/s1") == ["f", "sub"]
    code, body = await call(http, "GET", "/d/.snapshot/s1/f", op="GETFILESTATUS")
    assert body["FileStatus"]["length"] == 10
    code, body = await call(http, "GET", "/d/.snapshot/s1", op="GETCONTENTSUMMARY")
    assert body["ContentSummary"]["fileCount"] == 1 and body["ContentSummary"]["length"] == 10
    code, body = await call(http, "GET", "/d", op="GETSNAPSHOTDIFF", oldsnapshotname="s1", snapshotname="")
    assert body == {"SnapshotDiffReport": {"diffList": [{"type": "MODIFY", "sourcePath": ""},
                                                        {"type": "DELETE", "sourcePath": "f"}],
                                           "fromSnapshot": "s1", "snapshotRoot": "/d", "toSnapshot": ""}}
    assert (await http.put("http://nn/webhdfs/v1/d?op=RENAMESNAPSHOT&oldsnapshotname=s1&snapshotname=s2")).code == 200
    code, body = await call(http, "GET", "/d", op="GETSNAPSHOTLIST")
    assert [s["fullPath"] for s in body["SnapshotList"]][0] == "/d/.snapshot/s2"
    code, body = await call(http, "GET", "/", op="GETSNAPSHOTTABLEDIRECTORYLIST")
    [listed] = body["SnapshottableDirectoryList"]
    assert (listed["parentFullPath"], listed["dirStatus"]["pathSuffix"], listed["snapshotNumber"]) == ("/", "d", 2)
    code, body = await call(http, "PUT", "/d", op="DISALLOWSNAPSHOT")
    assert code == 403 and "has snapshot(s)" in body["RemoteException"]["message"]
    assert (await http.delete("http://nn/webhdfs/v1/d?op=DELETESNAPSHOT&snapshotname=s2")).code == 200
    code, body = await call(http, "GET", "/d/.snapshot/s2", op="LISTSTATUS")
    assert code == 404


@pytest_twisted.ensureDeferred
async def test_writes_under_a_snapshot_are_refused(http):
    await http.put("http://nn/webhdfs/v1/d?op=ALLOWSNAPSHOT")
    await call(http, "PUT", "/d", op="CREATESNAPSHOT", snapshotname="s1")
    for method, path, params in [("PUT", "/d/.snapshot/s1/x", {"op": "MKDIRS"}),
                                 ("DELETE", "/d/.snapshot/s1/f", {"op": "DELETE"}),
                                 ("PUT", "/d/f", {"op": "RENAME", "destination": "/d/.snapshot/s1/g"}),
                                 ("PUT", "/d/.snapshot/s1/f", {"op": "SETPERMISSION", "permission": "777"})]:
        code, body = await call(http, method, path, **params)
        assert code == 403, (path, params)
        assert body["RemoteException"]["exception"] == "SnapshotAccessControlException"
        assert body["RemoteException"]["message"] == "Modification on a read-only snapshot is disallowed"
    response = await http.put("http://nn/webhdfs/v1/d/.snapshot/s1/new?op=CREATE&data=true", data=b"x")
    assert response.code == 403
    code, body = await call(http, "DELETE", "/d", op="DELETE", recursive="true")
    assert code == 403 and "cannot be deleted since /d is snapshottable" in body["RemoteException"]["message"]


@pytest_twisted.ensureDeferred
async def test_at_reads_the_namespace_as_it_was(namenode_app, http):
    namenode_app.store.history_retention = 3600.0
    before = a_moment_between()
    await call(http, "DELETE", "/d/f", op="DELETE")
    assert await names(http, "/d") == ["sub"]
    assert await names(http, "/d", at=str(before)) == ["f", "sub"]
    code, body = await call(http, "GET", "/d/f", op="GETFILESTATUS", at=str(before))
    assert body["FileStatus"]["length"] == 10
    code, body = await call(http, "GET", "/d", op="LISTSTATUS", at="2 days ago")
    assert code == 403 and "--history-retention" in body["RemoteException"]["message"]


@pytest_twisted.ensureDeferred
async def test_extended_attributes_are_read_as_they_were(namenode_app, http):
    store = namenode_app.store
    store.history_retention = 3600.0
    result(store.allow_snapshot("/d"))
    result(store.set_xattr("/d/f", "user.color", b"red", create=True, replace=False))
    result(store.create_snapshot("/d", "s1"))
    before = a_moment_between()
    result(store.set_xattr("/d/f", "user.color", b"blue", create=False, replace=True))
    then = {"XAttrs": [{"name": "user.color", "value": '"red"'}]}
    assert await call(http, "GET", "/d/.snapshot/s1/f", op="GETXATTRS") == (200, then)
    assert await call(http, "GET", "/d/f", op="GETXATTRS", at=str(before)) == (200, then)
    code, body = await call(http, "GET", "/d/.snapshot/s1/f", op="LISTXATTRS")
    assert body == {"XAttrNames": '["user.color"]'}
    code, body = await call(http, "GET", "/d/f", op="GETXATTRS")
    assert body["XAttrs"][0]["value"] == '"blue"'


@pytest_twisted.ensureDeferred
async def test_the_paged_diff_has_hadoops_shape(namenode_app, http):
    store = namenode_app.store
    result(store.allow_snapshot("/d"))
    result(store.create_snapshot("/d", "s1"))
    result(store.rename("/d/f", "/d/g", overwrite=False))
    result(store.create_snapshot("/d", "s2"))
    d, f = result(store.status("/d")).inode.id, result(store.status("/d/g")).inode.id
    store.snapshot_diff_listing_limit = 2
    code, body = await call(http, "GET", "/d", op="GETSNAPSHOTDIFFLISTING", oldsnapshotname="s1", snapshotname="s2")
    assert (code, body) == (200, {"SnapshotDiffReportListing": {
        "lastPath": "f", "lastIndex": 2, "isFromEarlier": True,
        "modifyList": [{"dirId": d, "fileId": d, "sourcePath": "", "isReference": True}],
        "createList": [],
        "deleteList": [{"dirId": d, "fileId": f, "sourcePath": "f", "targetPath": "g", "isReference": True}]}})
    code, body = await call(http, "GET", "/d", op="GETSNAPSHOTDIFFLISTING", oldsnapshotname="s1", snapshotname="s2",
                            snapshotdiffstartpath="f", snapshotdiffindex="2")
    assert body == {"SnapshotDiffReportListing": {
        "lastPath": "", "lastIndex": -1, "isFromEarlier": True, "modifyList": [], "deleteList": [],
        "createList": [{"dirId": d, "fileId": f, "sourcePath": "g", "isReference": True}]}}
