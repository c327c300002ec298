"""dfs's CREATEBATCH on a real cluster: many small files in one request, each its own CREATE (its status, its
refusal, its operation id in the retry cache)."""

import os

import pytest
import pytest_twisted
import requests
from twisted.internet import reactor

from dfs import filebatch
from dfs.client import Client
from dfs.errors import FileExists, NSQuotaExceeded, SnapshotAccessControlException
from dfs.http import make_http

H = {"Content-Type": "application/octet-stream"}


@pytest.fixture
def client(cluster):
    http, pool = make_http(reactor)
    yield Client(http, cluster.url, reactor=reactor)
    pytest_twisted.blockon(pool.closeCachedConnections())


def _asked(cluster, op):
    """Requests of WebHDFS ``op`` the namenode answered so far (its metrics)."""
    text = requests.get(cluster.url + "/metrics", timeout=10).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("dfs_http_requests_total{") and f'op="{op}"' in line)


def _read(cluster, path):
    answer = requests.get(cluster.url + "/webhdfs/v1" + path, params={"op": "OPEN"}, timeout=60)
    assert answer.status_code == 200, answer.text
    return answer.content


@pytest_twisted.ensureDeferred
async def test_a_batch_stores_every_file_in_one_request(client, cluster, unique_dir):
    sizes = [0, 1, 4096, 100_000, filebatch.MAX_FILE, *range(7, 7 * 20, 7)]
    files = [{"path": f"{unique_dir}/d{i % 3}/f{i}", "data": os.urandom(size), "permission": 0o600 + i % 2 * 0o40,
              "mtime": 1_000_000_000 + i} for i, size in enumerate(sizes)]
    batches, creates = _asked(cluster, "CREATEBATCH"), _asked(cluster, "CREATE")
    outcomes = await client.create_files(files)
    assert (_asked(cluster, "CREATEBATCH") - batches, _asked(cluster, "CREATE") - creates) == (1, 0)
    for f, outcome in zip(files, outcomes):
        assert outcome == await client.stat(f["path"])
        assert (outcome["length"], outcome["permission"], outcome["modificationTime"]) == \
            (len(f["data"]), format(f["permission"], "o"), f["mtime"])
        assert _read(cluster, f["path"]) == f["data"]
    report = cluster.fsck(unique_dir)
    assert report["totals"]["status"] == "HEALTHY", report["totals"]


@pytest_twisted.ensureDeferred
async def test_a_file_under_a_snapshot_is_refused_as_a_create_is(client, unique_dir):
    """Snapshots are read-only for a batch's files too: the request's own path ("/") passed the check."""
    await client.mkdir(unique_dir + "/d")
    outcomes = await client.create_files([{"path": unique_dir + "/d/.snapshot/s/f", "data": b"x"},
                                          {"path": unique_dir + "/d/f", "data": b"y"}])
    assert type(outcomes[0]) is SnapshotAccessControlException
    assert outcomes[1]["length"] == 1
    assert not await client.exists(unique_dir + "/d/.snapshot")


@pytest_twisted.ensureDeferred
async def test_a_refused_file_fails_alone(client, cluster, unique_dir):
    await client.mkdir(unique_dir + "/full")
    await client.set_quota(unique_dir + "/full", names=1)  # the directory itself: no file fits
    await client.write(unique_dir + "/taken", b"first")
    files = [{"path": f"{unique_dir}/ok{i}", "data": b"ok %d" % i} for i in range(3)]
    files[1:1] = [{"path": unique_dir + "/full/f", "data": b"over quota"},
                  {"path": unique_dir + "/taken", "data": b"no overwrite"}]
    outcomes = await client.create_files(files)
    assert [type(outcome) for outcome in outcomes[1:3]] == [NSQuotaExceeded, FileExists]
    assert outcomes[1].path == unique_dir + "/full/f"
    for f in files[:1] + files[3:]:
        assert _read(cluster, f["path"]) == f["data"]
    assert not await client.exists(unique_dir + "/full/f")
    assert _read(cluster, unique_dir + "/taken") == b"first"


def test_a_batch_sent_again_answers_the_same_and_creates_nothing_twice(cluster, unique_dir):
    frames = [(f"{unique_dir}/f{i}", {"clientid": "batch-test-0001", "callid": str(i)}, b"bytes %d" % i)
              for i in range(5)]

    def send():
        answer = requests.post(cluster.url + "/webhdfs/v1/", params={"op": "CREATEBATCH"},
                               data=filebatch.encode(frames), headers=H, timeout=60)
        assert answer.status_code == 200, answer.text
        return answer.json()["files"]

    first = send()
    assert all("FileStatus" in entry for entry in first), first
    assert send() == first  # no "exists" (overwrite is off), the same inodes and times: nothing made again
    for path, _, data in frames:
        assert _read(cluster, path) == data
    frames = [(path, {"clientid": "batch-test-0001", "callid": str(100 + i)}, data)
              for i, (path, _, data) in enumerate(frames)]
    assert {entry["RemoteException"]["exception"] for entry in send()} == {"FileAlreadyExistsException"}


def test_a_batch_beyond_its_bounds_is_refused_whole(cluster, unique_dir):
    frames = [(f"{unique_dir}/f{i}", {}, b"x") for i in range(filebatch.MAX_FILES)]
    body = filebatch.encode(frames) + filebatch.encode(frames[:1])
    answer = requests.post(cluster.url + "/webhdfs/v1/", params={"op": "CREATEBATCH"}, data=body, headers=H,
                           timeout=60)
    assert answer.status_code == 400 and f"at most {filebatch.MAX_FILES} files" in answer.text, answer.text
    assert requests.get(f"{cluster.url}/webhdfs/v1{unique_dir}/f0", params={"op": "GETFILESTATUS"},
                        timeout=60).status_code == 404
