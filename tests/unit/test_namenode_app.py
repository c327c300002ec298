"""The namenode's Klein app in memory (treq.testing.StubTreq), with a synchronous store and a fake clock."""

import pytest
import pytest_twisted
from treq.testing import StubTreq

from dfs.namenode.namespace.model import Extent
from dfs.version import version

BASE = "http://nn"


@pytest.fixture
def stub(namenode_app):
    return StubTreq(namenode_app.resource()), namenode_app.registry, namenode_app.repair


async def call(http, method, path, **params):
    response = await http.request(method, BASE + "/webhdfs/v1" + path, params=params)
    return response.code, await response.json()


@pytest_twisted.ensureDeferred
async def test_mkdirs_list_and_status(stub):
    http, _, _ = stub
    assert await call(http, "PUT", "/a/b", op="MKDIRS") == (200, {"boolean": True})
    code, body = await call(http, "GET", "/a", op="liststatus")
    assert code == 200
    [entry] = body["FileStatuses"]["FileStatus"]
    assert entry["pathSuffix"] == "b" and entry["type"] == "DIRECTORY" and entry["permission"] == "755"
    code, body = await call(http, "GET", "/a", op="GETFILESTATUS")
    assert body["FileStatus"]["childrenNum"] == 0 or body["FileStatus"]["type"] == "DIRECTORY"


@pytest_twisted.ensureDeferred
async def test_errors_are_remote_exceptions(stub):
    http, _, _ = stub
    code, body = await call(http, "GET", "/missing", op="GETFILESTATUS")
    assert code == 404
    assert body["RemoteException"]["exception"] == "FileNotFoundException"
    assert "/missing" in body["RemoteException"]["message"]
    code, body = await call(http, "GET", "/", op="NOSUCHOP")
    assert code == 400 and "No enum constant" in body["RemoteException"]["message"]
    code, body = await call(http, "GET", "/")
    assert code == 400 and "op" in body["RemoteException"]["message"]
    code, body = await call(http, "DELETE", "/", op="DELETE", recursive="maybe")
    assert code == 400 and "recursive" in body["RemoteException"]["message"]
    code, body = await call(http, "GET", "/a/../etc", op="GETFILESTATUS")
    assert code == 400 and ".." in body["RemoteException"]["message"]
    code, body = await call(http, "GET", "/a%00b", op="GETFILESTATUS")
    assert code == 400


@pytest_twisted.ensureDeferred
async def test_body_where_none_belongs(stub):
    http, _, _ = stub
    response = await http.put(BASE + "/webhdfs/v1/x?op=MKDIRS", data=b"surprise")
    assert response.code == 400
    assert "no request body" in (await response.json())["RemoteException"]["message"]


@pytest_twisted.ensureDeferred
async def test_create_redirects_to_own_upload_url(stub):
    http, _, _ = stub
    response = await http.put(BASE + "/webhdfs/v1/f?op=CREATE&overwrite=True&user.name=u&clientid=client-1&callid=3",
                              allow_redirects=False)
    assert response.code == 307
    location = response.headers.getRawHeaders("location")[0]
    assert location.startswith("http://nn/webhdfs/v1/f?") and "data=true" in location
    assert "clientid=client-1" in location and "callid=3" in location  # the data step is the same operation
    response = await http.put(BASE + "/webhdfs/v1/f?op=CREATE&noredirect=true", allow_redirects=False)
    assert response.code == 200 and "data=true" in (await response.json())["Location"]


@pytest_twisted.ensureDeferred
async def test_write_without_datanodes_is_a_clear_503(stub):
    http, _, _ = stub
    response = await http.put(BASE + "/webhdfs/v1/f?op=CREATE&data=true", data=b"x" * 10)
    assert response.code == 503
    assert "datanode" in (await response.json())["RemoteException"]["message"]
    code, _ = await call(http, "GET", "/f", op="GETFILESTATUS")
    assert code == 404  # nothing half-written


@pytest_twisted.ensureDeferred
async def test_safe_mode_refuses_writes(stub):
    http, _, repair = stub
    repair.safemode.enter()
    response = await http.put(BASE + "/webhdfs/v1/d?op=MKDIRS")
    assert response.code == 503 and response.headers.getRawHeaders("retry-after")
    code, _ = await call(http, "GET", "/", op="LISTSTATUS")
    assert code == 200


@pytest_twisted.ensureDeferred
async def test_registration_and_unknown_heartbeat(stub):
    http, registry, _ = stub
    response = await http.put(BASE + "/cluster/datanodes/ghost/heartbeat", json={"capacity": 1, "used": 0, "free": 1})
    assert response.code == 404
    response = await http.post(BASE + "/cluster/datanodes", json={"id": "n1", "url": "http://n1", "capacity": 10,
                                                                  "used": 0, "free": 10, "blocks": [],
                                                                  "version": "9.8.7"})
    assert response.code == 200
    response = await http.post(BASE + "/cluster/datanodes", json={"id": "n2", "url": "http://n2", "capacity": 10,
                                                                  "used": 0, "free": 10, "cluster_id": "other"})
    assert response.code == 403
    assert list(registry.nodes) == ["n1"]
    response = await http.get(BASE + "/cluster")
    body = await response.json()
    assert body["totals"]["alive"] == 1 and body["nodes"][0]["id"] == "n1"


@pytest_twisted.ensureDeferred
async def test_cluster_status_tells_versions_uptime_metadata_size_and_block_reports(stub):
    """What an operator checks first: which versions run, since when, how big the namespace is, how fresh the
    datanodes' block reports are."""
    http, registry, _ = stub
    await http.post(BASE + "/cluster/datanodes", json={"id": "n1", "url": "http://n1", "capacity": 10, "used": 0,
                                                       "free": 10, "blocks": [], "version": "9.8.7"})
    await http.post(BASE + "/cluster/datanodes", json={"id": "old", "url": "http://old", "capacity": 10, "used": 0,
                                                       "free": 10, "blocks": []})
    registry.clock.advance(90)
    await http.put(BASE + "/cluster/datanodes/n1/blocks", json={"blocks": []})
    registry.clock.advance(2)
    body = await (await http.get(BASE + "/cluster")).json()
    assert body["version"] == version() and body["uptime"] == 92
    assert body["metadata_bytes"] > 0
    nodes = {node["id"]: node for node in body["nodes"]}
    assert (nodes["n1"]["version"], nodes["n1"]["last_block_report"]) == ("9.8.7", 2)
    assert (nodes["old"]["version"], nodes["old"]["last_block_report"]) == (None, 92)
    # Neither heartbeat in 92 s (a block report is not one): both went stale (dead only after 630 s), after they
    # joined.
    assert [(e["node"], e["event"]) for e in body["history"]] == [("old", "stale"), ("n1", "stale"),
                                                                   ("old", "joined"), ("n1", "joined")]


@pytest_twisted.ensureDeferred
async def test_format_needs_confirmation(stub):
    http, _, _ = stub
    response = await http.post(BASE + "/cluster/format")
    assert response.code == 400 and "confirm" in (await response.json())["RemoteException"]["message"]


@pytest_twisted.ensureDeferred
async def test_a_required_number_given_empty_is_a_400(stub):
    """``maintenance?for=`` took the empty value for no value and added None to the clock: a 500 (found by
    test_fuzz_http)."""
    http, registry, _ = stub
    registry.register("n1", "http://n1", "http://n1", 10, 0, 10, [])
    response = await http.post(BASE + "/cluster/datanodes/n1/maintenance?for=")
    assert response.code == 400 and '"for"' in (await response.json())["RemoteException"]["message"]
    assert registry.nodes["n1"].admin == "normal"


@pytest_twisted.ensureDeferred
async def test_truncate_past_the_largest_file_size_is_refused_at_once(namenode_app):
    namenode_app.max_file_size = 1 << 40  # the default is the largest number a parameter may carry
    http = StubTreq(namenode_app.resource())
    code, body = await call(http, "POST", "/nowhere", op="TRUNCATE", newlength=999999999999999)
    assert code == 413 and body["RemoteException"]["exception"] == "FileTooLargeException"
    assert "1099511627776" in body["RemoteException"]["message"]


@pytest_twisted.ensureDeferred
async def test_rename_onto_itself_or_below_changes_nothing(stub):
    """Issue 14: RENAME /a -> /a made /a its own parent and lost its subtree. HDFS answers false, changing nothing."""
    http, _, _ = stub
    await call(http, "PUT", "/a/b/c", op="MKDIRS")
    for destination in ("/a", "/a/b", "/a/b/c/d"):
        assert await call(http, "PUT", "/a", op="RENAME", destination=destination) == (200, {"boolean": False})
    code, body = await call(http, "PUT", "/a/b", op="RENAME", destination="/a/b", renameoptions="OVERWRITE")
    assert (code, body) == (200, {"boolean": True})
    code, body = await call(http, "GET", "/a/b", op="LISTSTATUS")
    assert [s["pathSuffix"] for s in body["FileStatuses"]["FileStatus"]] == ["c"]
    code, body = await call(http, "GET", "/a", op="GETFILESTATUS")
    assert body["FileStatus"]["childrenNum"] == 1


@pytest_twisted.ensureDeferred
async def test_rename_into_an_existing_directory_and_settimes_on_a_directory(stub):
    """What HdfsCLI's own suite expects (issue 16): a rename onto a directory moves the source into it, a rename
    onto an existing file answers false, and SETTIMES sets a directory's times."""
    http, _, _ = stub
    await call(http, "PUT", "/src/x", op="MKDIRS")
    await call(http, "PUT", "/dir", op="MKDIRS")
    await call(http, "PUT", "/other", op="MKDIRS")
    assert await call(http, "PUT", "/src", op="RENAME", destination="/dir") == (200, {"boolean": True})
    code, body = await call(http, "GET", "/dir/src", op="GETFILESTATUS")
    assert code == 200 and body["FileStatus"]["childrenNum"] == 1
    assert await call(http, "PUT", "/missing", op="RENAME", destination="/x") == (200, {"boolean": False})
    assert await call(http, "PUT", "/dir", op="SETTIMES", accesstime="1234", modificationtime="5678") == (200, {})
    code, body = await call(http, "GET", "/dir", op="GETFILESTATUS")
    assert (body["FileStatus"]["accessTime"], body["FileStatus"]["modificationTime"]) == (1234, 5678)
    code, body = await call(http, "GET", "/", op="LISTSTATUS")
    listed = {s["pathSuffix"]: s for s in body["FileStatuses"]["FileStatus"]}
    assert listed["dir"] == dict(body_of_status(await call(http, "GET", "/dir", op="GETFILESTATUS")), pathSuffix="dir")


def body_of_status(answer):
    code, body = answer
    assert code == 200
    return body["FileStatus"]


@pytest_twisted.ensureDeferred
async def test_long_names_are_refused_at_once(stub):
    http, _, _ = stub
    assert await call(http, "PUT", "/n/" + "x" * 255, op="MKDIRS") == (200, {"boolean": True})
    code, body = await call(http, "PUT", "/n/" + "x" * 256, op="MKDIRS")
    assert code == 400 and body["RemoteException"]["exception"] == "PathComponentTooLongException"
    code, body = await call(http, "PUT", "/n/" + "x" * 255, op="RENAME", destination="/n/" + "\u00e9" * 128)
    assert code == 400 and body["RemoteException"]["exception"] == "PathComponentTooLongException"
    deep = "/deep" + "/" + "/".join(["d" * 200] * 30)  # 6,035 bytes: past PATH_MAX
    assert await call(http, "PUT", deep, op="MKDIRS") == (200, {"boolean": True})
    code, body = await call(http, "GET", deep, op="GETFILESTATUS")
    assert code == 200 and body["FileStatus"]["type"] == "DIRECTORY"
    code, body = await call(http, "PUT", "/d" * 1001, op="MKDIRS")
    assert code == 400 and "deeper than 1000 levels" in body["RemoteException"]["message"]


@pytest_twisted.ensureDeferred
async def test_fsck_status_and_metrics_report_what_no_path_reaches(namenode_app, stub):
    http, _, repair = stub
    store = namenode_app.store
    await call(http, "PUT", "/a/b", op="MKDIRS")
    await call(http, "PUT", "/lost/c", op="MKDIRS")
    report = await (await http.get(BASE + "/cluster/fsck")).json()
    assert report["totals"]["status"] == "HEALTHY" and report["namespace"] == []
    ids = {p: (await store.status(p)).inode.id for p in ("/a", "/a/b", "/lost")}
    await store.run(lambda db: db.execute("UPDATE dirents SET parent = ? WHERE inode = ?", (ids["/a/b"], ids["/a"])))
    await store.run(lambda db: db.execute("UPDATE dirents SET parent = 4242 WHERE inode = ?", (ids["/lost"],)))
    report = await (await http.get(BASE + "/cluster/fsck")).json()
    assert report["totals"]["status"] == "CORRUPT" and report["totals"]["unreachable_inodes"] == 4
    problems = {p["problem"]: p for p in report["namespace"]}
    assert sorted(problems["cycle"]["cycle"]) == sorted([ids["/a"], ids["/a/b"]])
    assert (problems["orphan"]["inode"], problems["orphan"]["parent"]) == (ids["/lost"], 4242)
    await repair.run_once()
    status = await (await http.get(BASE + "/cluster")).json()
    assert status["totals"]["unreachable_inodes"] == 4
    metrics = (await (await http.get(BASE + "/metrics")).text())
    assert "dfs_namespace_unreachable_inodes 4.0" in metrics

@pytest_twisted.ensureDeferred
async def test_out_of_range_numbers_are_400(stub):
    http, _, _ = stub
    for params in [{"op": "CREATE", "data": "true", "blocksize": 2 ** 63}, {"op": "CREATE", "blocksize": 2 ** 64},
                   {"op": "OPEN", "offset": 2 ** 63}, {"op": "GETFILEBLOCKLOCATIONS", "length": 2 ** 70},
                   {"op": "TRUNCATE", "newlength": -(2 ** 63) - 1}]:
        method = {"OPEN": "GET", "GETFILEBLOCKLOCATIONS": "GET", "TRUNCATE": "POST"}.get(params["op"], "PUT")
        response = await http.request(method, BASE + "/webhdfs/v1/f", params=params, allow_redirects=False)
        body = await response.json()
        assert response.code == 400, (params, body)
        assert body["RemoteException"]["exception"] == "IllegalArgumentException"
        assert "out of range" in body["RemoteException"]["message"]


@pytest_twisted.ensureDeferred
async def test_deeply_nested_json_is_400(stub):
    http, _, _ = stub
    for body in [b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 100_000 + b"1" + b"}" * 100_000]:
        response = await http.post(BASE + "/cluster/datanodes", data=body)
        answer = await response.json()
        assert response.code == 400 and "nested" in answer["RemoteException"]["message"], answer


@pytest_twisted.ensureDeferred
async def test_odd_paths_are_400_never_a_redirect_without_location(stub):
    """("//x" is collapsed by the site before routing: tests/integration/test_webhdfs.py.)"""
    http, _, _ = stub
    code, body = await call(http, "GET", "/d/./e", op="GETFILESTATUS")
    assert code == 400 and "'.' segments" in body["RemoteException"]["message"]
    response = await http.get(BASE + "/webhdfs/v1?op=LISTSTATUS", allow_redirects=False)
    assert response.code == 400 or response.headers.getRawHeaders("location")


@pytest_twisted.ensureDeferred
async def test_createsymlink_and_the_statuses_of_a_link(namenode_app, stub):
    http, _, _ = stub
    response = await http.put(BASE + "/webhdfs/v1/links/to-data?op=CREATESYMLINK&destination=../data/f"
                              "&createParent=true&user.name=alice")
    assert response.code == 200 and await response.content() == b""
    code, body = await call(http, "GET", "/links/to-data", op="GETFILESTATUS")
    status = body["FileStatus"]
    assert (code, status["type"], status["symlink"], status["owner"]) == (200, "SYMLINK", "../data/f", "alice")
    assert status["length"] == 0 and status["nlink"] == 1
    code, body = await call(http, "GET", "/links", op="LISTSTATUS")
    [entry] = body["FileStatuses"]["FileStatus"]
    assert (entry["pathSuffix"], entry["type"], entry["symlink"]) == ("to-data", "SYMLINK", "../data/f")
    # The namenode never follows a link: not at the end of a path, nor in the middle of one.
    code, body = await call(http, "GET", "/links/to-data/below", op="GETFILESTATUS")
    assert code == 403 and body["RemoteException"]["exception"] == "ParentNotDirectoryException"
    code, body = await call(http, "GET", "/links/to-data", op="OPEN")
    assert code == 404
    code, body = await call(http, "PUT", "/links/to-data", op="CREATESYMLINK", destination="/elsewhere")
    assert code == 403 and body["RemoteException"]["exception"] == "FileAlreadyExistsException"
    code, body = await call(http, "PUT", "/nowhere/link", op="CREATESYMLINK", destination="/x", createParent="false")
    assert code == 404
    code, body = await call(http, "PUT", "/empty", op="CREATESYMLINK", destination="")
    assert code == 400


@pytest_twisted.ensureDeferred
async def test_getfilelinkstatus_and_getlinktarget_as_hadoop_3_4_asks(namenode_app, stub):
    """Hadoop 3.4's client reads a link back with these (FileSystem.getFileLinkStatus, getLinkTarget)."""
    http, _, _ = stub
    assert (await http.put(BASE + "/webhdfs/v1/l/link?op=CREATESYMLINK&destination=../data/f")).code == 200
    await call(http, "PUT", "/l/dir", op="MKDIRS")
    code, body = await call(http, "GET", "/l/link", op="GETFILELINKSTATUS")
    assert (code, body["FileStatus"]["type"], body["FileStatus"]["symlink"]) == (200, "SYMLINK", "../data/f")
    assert await call(http, "GET", "/l/link", op="GETLINKTARGET") == (200, {"Path": "../data/f"})
    code, body = await call(http, "GET", "/l/dir", op="GETLINKTARGET")
    assert (code, body["RemoteException"]["message"]) == (403, "Path /l/dir is not a symbolic link")
    assert (await call(http, "GET", "/l/none", op="GETLINKTARGET"))[0] == 404


@pytest_twisted.ensureDeferred
async def test_hard_links_and_special_files_as_dfs_extensions(namenode_app, stub):
    http, _, _ = stub
    await namenode_app.store.create("/d/f", [Extent("ab" * 32, 0, 5, 5)], overwrite=False)
    assert await call(http, "PUT", "/d/f", op="LINK", destination="/d/g") == (200, {"boolean": True})
    code, body = await call(http, "GET", "/d", op="LISTSTATUS")
    statuses = {s["pathSuffix"]: s for s in body["FileStatuses"]["FileStatus"]}
    assert statuses["f"]["fileId"] == statuses["g"]["fileId"] and statuses["g"]["nlink"] == 2
    assert statuses["g"]["length"] == 5
    code, body = await call(http, "PUT", "/d", op="LINK", destination="/e")
    assert code == 403 and body["RemoteException"]["exception"] == "PathIsDirectoryException"
    await call(http, "DELETE", "/d/f", op="DELETE")
    code, body = await call(http, "GET", "/d/g", op="GETFILESTATUS")
    assert (body["FileStatus"]["nlink"], body["FileStatus"]["length"]) == (1, 5)

    assert (await call(http, "PUT", "/d/pipe", op="MKNOD", type="fifo", permission="640"))[0] == 200
    assert (await call(http, "PUT", "/d/tty", op="MKNOD", type="CHAR_DEVICE", rdev=str(4 << 8 | 1)))[0] == 200
    code, body = await call(http, "GET", "/d/tty", op="GETFILESTATUS")
    assert (body["FileStatus"]["type"], body["FileStatus"]["special"], body["FileStatus"]["rdev"]) == (
        "FILE", "CHAR_DEVICE", 1025)  # Hadoop's client knows no other type: a special file is a FILE to it
    code, body = await call(http, "GET", "/d/pipe", op="GETFILESTATUS")
    assert (body["FileStatus"]["special"], body["FileStatus"]["permission"]) == ("FIFO", "640")
    code, body = await call(http, "PUT", "/d/x", op="MKNOD", type="DIRECTORY")
    assert code == 400


@pytest_twisted.ensureDeferred
async def test_a_directory_link_count_is_two_plus_its_subdirectories(stub):
    http, _, _ = stub
    for path in ("/top/a", "/top/b/c"):
        await call(http, "PUT", path, op="MKDIRS")
    assert (await http.put(BASE + "/webhdfs/v1/top/link?op=CREATESYMLINK&destination=a")).code == 200
    code, body = await call(http, "GET", "/top", op="GETFILESTATUS")
    assert (body["FileStatus"]["nlink"], body["FileStatus"]["childrenNum"]) == (4, 3)
    code, body = await call(http, "GET", "/top", op="LISTSTATUS")
    assert {s["pathSuffix"]: s["nlink"] for s in body["FileStatuses"]["FileStatus"]} == {"a": 2, "b": 3, "link": 1}


@pytest_twisted.ensureDeferred
async def test_checkaccess_reads_fsaction(stub):
    http, _, _ = stub
    await call(http, "PUT", "/ca", op="MKDIRS")
    response = await http.get(BASE + "/webhdfs/v1/ca", params={"op": "CHECKACCESS", "fsaction": "rwx"})
    assert response.code == 200 and await response.content() == b""
    assert (await call(http, "GET", "/ca/none", op="CHECKACCESS", fsaction="r--"))[0] == 404
    for params in ({}, {"fsaction": "rwz"}, {"fsaction": "rw"}):
        code, body = await call(http, "GET", "/ca", op="CHECKACCESS", **params)
        assert code == 400 and "fsaction" in body["RemoteException"]["message"]


@pytest_twisted.ensureDeferred
async def test_a_delete_for_rmdir_refuses_a_file_and_keeps_it(namenode_app, stub):
    """DELETE with directory=true (the mount's and the client's rmdir, one request): a file is refused in the same
    transaction, not deleted; an empty directory goes, a missing one answers false."""
    http, _, _ = stub
    await namenode_app.store.create("/r/f", [Extent("ab" * 32, 0, 5, 5)], overwrite=False)
    await call(http, "PUT", "/r/d", op="MKDIRS")
    code, body = await call(http, "DELETE", "/r/f", op="DELETE", directory="true")
    assert code == 403 and body["RemoteException"]["exception"] == "ParentNotDirectoryException"
    assert (await call(http, "GET", "/r/f", op="GETFILESTATUS"))[0] == 200
    assert await call(http, "DELETE", "/r/d", op="DELETE", directory="true") == (200, {"boolean": True})
    assert await call(http, "DELETE", "/r/d", op="DELETE", directory="true") == (200, {"boolean": False})
