"""Every WebHDFS operation against a real cluster (twistd processes), spoken over plain HTTP."""

import hashlib
import json
import os
import threading

import requests

H = {"Content-Type": "application/octet-stream"}


def url(cluster, path, **params):
    return cluster.url + "/webhdfs/v1" + path, params


def put_file(cluster, path, data, **params):
    u, p = url(cluster, path, op="CREATE", **params)
    r = requests.put(u, params=p, allow_redirects=False)
    assert r.status_code == 307, r.text
    r = requests.put(r.headers["Location"], data=data, headers=H)
    assert r.status_code == 201, r.text
    return r


def read(cluster, path, **params):
    u, p = url(cluster, path, op="OPEN", **params)
    r = requests.get(u, params=p)
    assert r.status_code == 200, r.text
    return r.content


def op(cluster, method, path, name, **params):
    u, p = url(cluster, path, op=name, **params)
    return requests.request(method, u, params=p)


def raw(cluster, method, path):
    """Send ``path`` exactly as written (requests would resolve '..' itself)."""
    prepared = requests.Request(method, cluster.url + "/").prepare()
    prepared.url = cluster.url + path
    return requests.Session().send(prepared)


def test_create_open_and_status(cluster, unique_dir):
    data = os.urandom(300_000)
    put_file(cluster, unique_dir + "/f", data, overwrite="false", permission="600", replication=2)
    assert read(cluster, unique_dir + "/f") == data
    status = op(cluster, "GET", unique_dir + "/f", "GETFILESTATUS").json()["FileStatus"]
    assert status["length"] == len(data) and status["type"] == "FILE"
    assert status["permission"] == "600" and status["replication"] == 2 and status["pathSuffix"] == ""
    listing = op(cluster, "GET", unique_dir, "LISTSTATUS").json()["FileStatuses"]["FileStatus"]
    assert [e["pathSuffix"] for e in listing] == ["f"]


def test_the_create_answer_describes_the_new_file_as_getfilestatus_does(cluster, unique_dir):
    """dfs's extension: DFS-File-Status, so a client (the mount) need not ask for the file it just made: a new file
    with its times and holes given, a file replaced, a file replaced that has two names."""
    path = unique_dir + "/f"

    def described(answer):
        status = op(cluster, "GET", path, "GETFILESTATUS").json()["FileStatus"]
        assert json.loads(answer.headers["DFS-File-Status"]) == status
        return status

    new = described(put_file(cluster, path, b"onetwo", permission="640", modificationtime=1_500_000_000_456,
                             accesstime=1_400_000_000_123, holes="3:1000"))
    assert (new["length"], new["holes"], new["permission"], new["modificationTime"]) == (1006, 1000, "640",
                                                                                          1_500_000_000_456)
    assert described(put_file(cluster, path, b"three", overwrite="true"))["length"] == 5
    assert op(cluster, "PUT", path, "LINK", destination=unique_dir + "/g").status_code == 200
    assert described(put_file(cluster, path, b"four", overwrite="true"))["nlink"] == 2


def test_create_refuses_existing_without_overwrite(cluster, unique_dir):
    put_file(cluster, unique_dir + "/f", b"one")
    u, p = url(cluster, unique_dir + "/f", op="CREATE", data="true", overwrite="False")
    r = requests.put(u, params=p, data=b"two", headers=H)
    assert r.status_code == 403
    assert r.json()["RemoteException"]["exception"] == "FileAlreadyExistsException"
    assert read(cluster, unique_dir + "/f") == b"one"
    put_file(cluster, unique_dir + "/f", b"three", overwrite="TRUE")
    assert read(cluster, unique_dir + "/f") == b"three"


def test_curl_style_one_shot_upload(cluster, unique_dir):
    u, p = url(cluster, unique_dir + "/oneshot", op="CREATE")
    r = requests.put(u, params=p, data=b"direct body", headers=H)
    assert r.status_code == 201
    assert read(cluster, unique_dir + "/oneshot") == b"direct body"


def test_empty_file(cluster, unique_dir):
    put_file(cluster, unique_dir + "/empty", b"")
    assert read(cluster, unique_dir + "/empty") == b""
    assert op(cluster, "GET", unique_dir + "/empty", "GETFILESTATUS").json()["FileStatus"]["length"] == 0


def test_append_and_mtime_changes(cluster, unique_dir):
    path = unique_dir + "/log"
    put_file(cluster, path, b"a" * 1000)
    before = op(cluster, "GET", path, "GETFILESTATUS").json()["FileStatus"]["modificationTime"]
    u, p = url(cluster, path, op="APPEND")
    r = requests.post(u, params=p, allow_redirects=False)
    assert r.status_code == 307
    r = requests.post(r.headers["Location"], data=b"b" * 500, headers=H)
    assert r.status_code == 200
    assert read(cluster, path) == b"a" * 1000 + b"b" * 500
    after = op(cluster, "GET", path, "GETFILESTATUS").json()["FileStatus"]["modificationTime"]
    assert after > before


def test_range_reads_across_block_boundaries(cluster, unique_dir):
    data = os.urandom(5 * 65536 + 123)
    put_file(cluster, unique_dir + "/blocks", data, blocksize=65536)
    locations = op(cluster, "GET", unique_dir + "/blocks", "GETFILEBLOCKLOCATIONS").json()
    assert len(locations["BlockLocations"]["BlockLocation"]) == 6
    for offset, length in [(0, 10), (65530, 20), (65536, 65536), (100000, 200000), (5 * 65536, 1000), (7, None)]:
        params = {"offset": offset} if length is None else {"offset": offset, "length": length}
        expected = data[offset:] if length is None else data[offset:offset + length]
        assert read(cluster, unique_dir + "/blocks", **params) == expected
    assert read(cluster, unique_dir + "/blocks", offset=len(data) + 5) == b""


def test_mkdirs_rename_delete(cluster, unique_dir):
    assert op(cluster, "PUT", unique_dir + "/x/y", "MKDIRS").json() == {"boolean": True}
    put_file(cluster, unique_dir + "/x/y/f", b"data")
    assert op(cluster, "PUT", unique_dir + "/x", "RENAME", destination=unique_dir + "/z").json() == {"boolean": True}
    assert read(cluster, unique_dir + "/z/y/f") == b"data"
    r = op(cluster, "DELETE", unique_dir + "/z", "DELETE")
    assert r.status_code == 403 and "non empty" in r.json()["RemoteException"]["message"]
    assert op(cluster, "DELETE", unique_dir + "/z", "DELETE", recursive="true").json() == {"boolean": True}
    assert op(cluster, "DELETE", unique_dir + "/z", "DELETE").json() == {"boolean": False}
    r = op(cluster, "GET", unique_dir + "/z", "GETFILESTATUS")
    assert r.status_code == 404 and r.json()["RemoteException"]["exception"] == "FileNotFoundException"


def test_rename_file_over_file_needs_overwrite(cluster, unique_dir):
    put_file(cluster, unique_dir + "/a", b"A")
    put_file(cluster, unique_dir + "/b", b"B")
    r = op(cluster, "PUT", unique_dir + "/a", "RENAME", destination=unique_dir + "/b")
    assert r.json() == {"boolean": False}  # HDFS's rename without options: false, nothing changed
    assert read(cluster, unique_dir + "/b") == b"B"
    r = op(cluster, "PUT", unique_dir + "/a", "RENAME", destination=unique_dir + "/b", renameoptions="OVERWRITE")
    assert r.json() == {"boolean": True}
    assert read(cluster, unique_dir + "/b") == b"A"


def test_attributes(cluster, unique_dir):
    path = unique_dir + "/attrs"
    put_file(cluster, path, b"x")
    assert op(cluster, "PUT", path, "SETTIMES", modificationtime=1000, accesstime=2000).status_code == 200
    assert op(cluster, "PUT", path, "SETPERMISSION", permission="751").status_code == 200
    assert op(cluster, "PUT", path, "SETOWNER", owner="alice", group="staff").status_code == 200
    assert op(cluster, "PUT", path, "SETREPLICATION", replication=2).json() == {"boolean": True}
    status = op(cluster, "GET", path, "GETFILESTATUS").json()["FileStatus"]
    assert (status["modificationTime"], status["accessTime"]) == (1000, 2000)
    assert (status["permission"], status["owner"], status["group"], status["replication"]) == ("751", "alice",
                                                                                               "staff", 2)
    assert op(cluster, "PUT", path, "SETTIMES", accesstime=3000).status_code == 200
    status = op(cluster, "GET", path, "GETFILESTATUS").json()["FileStatus"]
    assert (status["modificationTime"], status["accessTime"]) == (1000, 3000)
    r = op(cluster, "PUT", path, "SETOWNER")
    assert r.status_code == 400 and "Both owner and group are empty" in r.json()["RemoteException"]["message"]
    r = op(cluster, "PUT", path, "SETPERMISSION", permission="999")
    assert r.status_code == 400



def times_of(cluster, path):
    status = op(cluster, "GET", path, "GETFILESTATUS").json()["FileStatus"]
    return status["modificationTime"], status["accessTime"]


def stored_anywhere(cluster, data):
    """Whether a datanode holds a block of exactly ``data`` (block ids are the SHA-256 of their bytes)."""
    block_id = hashlib.sha256(data).hexdigest()
    return any(block_id in cluster.block_files(i) for i in range(len(cluster.datanodes)))


def test_create_carries_times(cluster, unique_dir):
    path = unique_dir + "/timed"
    put_file(cluster, path, b"new", modificationtime=1000, accesstime=2000)
    assert times_of(cluster, path) == (1000, 2000)
    put_file(cluster, path, b"overwritten", overwrite="true", modificationtime=500)
    mtime, atime = times_of(cluster, path)
    assert mtime == 500 and atime > 2000, "an older mtime is kept as given; an absent atime is the write's"
    put_file(cluster, path, b"again", overwrite="true", modificationtime=-1, accesstime=3000)
    mtime, atime = times_of(cluster, path)
    assert mtime > 500 and atime == 3000, "-1 is 'not given', as in SETTIMES"
    assert read(cluster, path) == b"again"

    for bad in ("-2", "soon", str(2 ** 63)):
        data = os.urandom(5000)
        u, p = url(cluster, path, op="CREATE", data="true", overwrite="true", modificationtime=bad)
        r = requests.put(u, params=p, data=data, headers=H)
        assert r.status_code == 400, r.text
        assert "modificationtime" in r.json()["RemoteException"]["message"]
        assert not stored_anywhere(cluster, data), "a rejected CREATE stores no bytes"
    u, p = url(cluster, unique_dir + "/never", op="CREATE", accesstime="x")
    r = requests.put(u, params=p, data=b"one shot", headers=H)
    assert r.status_code == 400 and "accesstime" in r.json()["RemoteException"]["message"]
    assert read(cluster, path) == b"again"
    assert times_of(cluster, path)[1] == 3000
    assert op(cluster, "GET", unique_dir + "/never", "GETFILESTATUS").status_code == 404

def test_truncate_concat_copy(cluster, unique_dir):
    put_file(cluster, unique_dir + "/t", b"0123456789")
    assert op(cluster, "POST", unique_dir + "/t", "TRUNCATE", newlength=4).json() == {"boolean": True}
    assert read(cluster, unique_dir + "/t") == b"0123"
    put_file(cluster, unique_dir + "/p1", b"-one")
    put_file(cluster, unique_dir + "/p2", b"-two")
    r = op(cluster, "POST", unique_dir + "/t", "CONCAT", sources=f"{unique_dir}/p1,{unique_dir}/p2")
    assert r.status_code == 200
    assert read(cluster, unique_dir + "/t") == b"0123-one-two"
    assert op(cluster, "GET", unique_dir + "/p1", "GETFILESTATUS").status_code == 404
    assert op(cluster, "PUT", unique_dir + "/t", "COPY", destination=unique_dir + "/c").json() == {"boolean": True}
    assert read(cluster, unique_dir + "/c") == b"0123-one-two"


def append(cluster, path, data):
    u, p = url(cluster, path, op="APPEND")
    r = requests.post(requests.post(u, params=p, allow_redirects=False).headers["Location"], data=data, headers=H)
    assert r.status_code == 200, r.text


def test_a_sparse_file_reads_its_holes_as_zeros_and_checksums_as_if_dense(cluster, unique_dir):
    """Issue 20: TRUNCATE to a larger size leaves a hole (no block); OPEN across its edges, the checksums and fsck
    treat it as the zeros it stands for."""
    block = 65536
    head, tail = os.urandom(block), os.urandom(1000)
    dense = head + bytes(2 * block) + tail
    sparse = unique_dir + "/sparse"
    put_file(cluster, sparse, head, blocksize=block)
    assert op(cluster, "POST", sparse, "TRUNCATE", newlength=3 * block).json() == {"boolean": True}
    append(cluster, sparse, tail)
    put_file(cluster, unique_dir + "/dense", dense, blocksize=block)

    status = op(cluster, "GET", sparse, "GETFILESTATUS").json()["FileStatus"]
    assert (status["length"], status["holes"]) == (len(dense), 2 * block)
    assert "holes" not in op(cluster, "GET", unique_dir + "/dense", "GETFILESTATUS").json()["FileStatus"]
    locations = op(cluster, "GET", sparse, "GETFILEBLOCKLOCATIONS").json()["BlockLocations"]["BlockLocation"]
    assert [(loc["offset"], loc["length"]) for loc in locations] == [(0, block), (3 * block, 1000)]
    assert read(cluster, sparse) == dense
    for offset, length in [(block - 10, 20), (block, 100), (block + 5, 2 * block), (3 * block - 7, 17),
                           (block - 3, 2 * block + 10), (2 * block, None), (0, 3 * block + 1)]:
        params = {"offset": offset} if length is None else {"offset": offset, "length": length}
        assert read(cluster, sparse, **params) == dense[offset:None if length is None else offset + length]

    def checksum(path, **params):
        return requests.get(*url(cluster, path, op="GETFILECHECKSUM", **params)).json()["FileChecksum"]

    assert checksum(sparse) == checksum(unique_dir + "/dense")
    assert checksum(sparse, algorithm="SHA-256")["bytes"] == hashlib.sha256(dense).hexdigest()
    report = cluster.fsck(sparse)
    assert report["totals"]["status"] == "HEALTHY" and report["totals"]["blocks"] == 2, report


def test_summary_checksum_home(cluster, unique_dir):
    data = os.urandom(70000)
    put_file(cluster, unique_dir + "/s/f", data, replication=3)
    summary = op(cluster, "GET", unique_dir + "/s", "GETCONTENTSUMMARY").json()["ContentSummary"]
    assert (summary["directoryCount"], summary["fileCount"], summary["length"]) == (1, 1, 70000)
    assert summary["spaceConsumed"] == 3 * 70000
    checksum = requests.get(*url(cluster, unique_dir + "/s/f", op="GETFILECHECKSUM", algorithm="SHA-256")).json()
    checksum = checksum["FileChecksum"]
    assert checksum["bytes"] == hashlib.sha256(data).hexdigest() and checksum["length"] == 32
    assert op(cluster, "GET", "/", "GETHOMEDIRECTORY", **{"user.name": "bob"}).json() == {"Path": "/user/bob"}


def test_bad_input_gets_named_errors(cluster, unique_dir):
    cases = [
        (op(cluster, "GET", unique_dir, "BOGUS"), 400, "BOGUS"),
        (op(cluster, "PUT", unique_dir, "RENAME"), 400, "destination"),
        (op(cluster, "GET", unique_dir, "OPEN", offset="-1"), 400, "offset"),
        (op(cluster, "POST", unique_dir, "MKDIRS"), 400, "MKDIRS"),
        (raw(cluster, "PUT", "/webhdfs/v1/a/../../etc/passwd?op=MKDIRS"), 400, ".."),
        (raw(cluster, "PUT", "/webhdfs/v1/a/%2E%2E/b?op=MKDIRS"), 400, ".."),
        (raw(cluster, "GET", "/nowhere"), 404, "Not Found"),
        (op(cluster, "GET", unique_dir + "/none", "OPEN"), 404, "does not exist"),
    ]
    for response, status, needle in cases:
        assert response.status_code == status, (response.url, response.text)
        body = response.json()["RemoteException"]
        assert needle in body["message"] and "Traceback" not in response.text
    put_file(cluster, unique_dir + "/f", b"file")
    u, p = url(cluster, unique_dir + "/f/child", op="CREATE", data="true")
    r = requests.put(u, params=p, data=b"x", headers=H)
    assert r.status_code == 403 and "not a directory" in r.json()["RemoteException"]["message"]
    r = op(cluster, "GET", unique_dir, "OPEN")
    assert r.status_code == 404 and "not a file" in r.json()["RemoteException"]["message"]
    r = requests.put(cluster.url + "/cluster/datanodes/nobody/heartbeat", json={"capacity": 1, "used": 0, "free": 1})
    assert r.status_code == 404 and "nobody" in r.json()["RemoteException"]["message"]


def test_overwrite_is_atomic_for_readers(cluster, unique_dir):
    path = unique_dir + "/hot"
    versions = [bytes([i]) * 400_000 for i in range(4)]
    put_file(cluster, path, versions[0], blocksize=65536)
    seen, stop, errors = [], threading.Event(), []

    def reader():
        while not stop.is_set() and len(seen) < 200:
            try:
                seen.append(read(cluster, path))
            except AssertionError as e:
                errors.append(e)

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    for v in versions[1:]:
        put_file(cluster, path, v, overwrite="true", blocksize=65536)
    stop.set()
    for t in threads:
        t.join(30)
    assert not errors
    assert seen and all(s in versions for s in seen)
    assert read(cluster, path) == versions[-1]


def test_cluster_status_and_health(cluster):
    status = cluster.status()
    assert status["totals"]["alive"] == 3
    for node in status["nodes"]:
        assert {"id", "url", "public_url", "state", "capacity", "used", "free", "blocks"} <= set(node)
    assert requests.get(cluster.url + "/health").json()["status"] == "ok"


def test_long_paths_pass_the_request_line_limit(cluster, unique_dir):
    """Two of the longest paths, each byte percent-encoded, fit one RENAME's request line (the limit follows them)."""
    name = "\u00e9" * 127  # 254 bytes of UTF-8, 762 characters percent-encoded
    levels = (16 * 1024 - len(unique_dir) - 40) // 255
    deep = unique_dir + ("/" + name) * levels
    assert op(cluster, "PUT", deep + "/a", "MKDIRS").json() == {"boolean": True}
    put_file(cluster, deep + "/a/f", b"far down")
    assert op(cluster, "PUT", deep + "/a", "RENAME", destination=deep + "/b").json() == {"boolean": True}
    assert read(cluster, deep + "/b/f") == b"far down"
    assert op(cluster, "PUT", deep + "/b/" + "x" * 100, "MKDIRS").status_code == 400  # past 16 KiB


def test_repeated_slashes_name_the_same_path(cluster, unique_dir):
    """"//x" is "/x" (as in HDFS), on the namenode and on a datanode: never a redirect without a Location."""
    put_file(cluster, unique_dir + "/f", b"slashes")
    for target in [f"/webhdfs/v1/{unique_dir}//f?op=GETFILESTATUS", f"//webhdfs//v1{unique_dir}/f?op=GETFILESTATUS"]:
        r = raw(cluster, "GET", target)
        assert r.status_code == 200 and r.json()["FileStatus"]["length"] == 7, (target, r.status_code, r.text)
    r = raw(cluster, "GET", f"/webhdfs/v1/{unique_dir}//f?op=OPEN")
    assert r.status_code == 200 and r.content == b"slashes"
    r = requests.get(cluster.url + "/webhdfs/v1?op=LISTSTATUS", allow_redirects=False)
    assert r.status_code == 308 and r.headers["Location"].endswith("/webhdfs/v1/?op=LISTSTATUS"), r.headers
