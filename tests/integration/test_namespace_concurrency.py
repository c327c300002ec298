"""Eight clients hammer a few shared paths of a real cluster with CREATE (overwrite), RENAME, DELETE, APPEND and
MKDIRS at once; the namespace must stay a tree whose every listed file reads back whole (issue 14), on either
backend (on PostgreSQL the changes run concurrently, SERIALIZABLE: issue 21).

DFS_HAMMER_SECONDS sets how long they hammer (default 20)."""

import os
import random
import threading
import time

import pytest
import requests

CLIENTS = 8
CHUNK = 64  # every write is one chunk of unique bytes, so a file must read back as whole chunks that were written
OCTETS = {"Content-Type": "application/octet-stream"}
ANSWERS = {200, 201, 403, 404}  # done, or refused for the state the path is in now; never a 5xx


@pytest.fixture(params=["sqlite", "postgres"])
def any_cluster(request):
    """The shared cluster (SQLite), or one of its own whose namenode keeps the namespace on PostgreSQL."""
    if request.param == "sqlite":
        return request.getfixturevalue("cluster")
    url = request.getfixturevalue("postgres_url")
    return request.getfixturevalue("make_cluster")(namenode_args=["--db-url", url])


def test_concurrent_clients_leave_a_tree_that_reads_back(any_cluster, unique_dir):
    cluster = any_cluster
    seconds = float(os.environ.get("DFS_HAMMER_SECONDS", 20))
    directories = [f"{unique_dir}/{d}" for d in ("x", "y", "x/z")]
    files = [f"{d}/{name}" for d in directories for name in ("f", "g")]
    written, errors, counts = set(), [], {}
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def url(path):
        return f"{cluster.url}/webhdfs/v1{path}"

    def chunk(rng):
        data = rng.randbytes(CHUNK)
        with lock:
            written.add(data)
        return data

    def client(seed):
        rng, http = random.Random(seed), requests.Session()
        operations = [
            lambda: http.put(url(rng.choice(files)), params={"op": "CREATE", "overwrite": "true", "data": "true"},
                             data=chunk(rng), headers=OCTETS, timeout=60),
            lambda: http.post(url(rng.choice(files)), params={"op": "APPEND", "data": "true"}, data=chunk(rng),
                              headers=OCTETS, timeout=60),
            lambda: http.put(url(rng.choice(files + directories)), timeout=60,
                             params={"op": "RENAME", "destination": rng.choice(files + directories + [unique_dir])}),
            lambda: http.delete(url(rng.choice(files + directories)), params={"op": "DELETE", "recursive": "true"},
                                timeout=60),
            lambda: http.put(url(rng.choice(directories)), params={"op": "MKDIRS"}, timeout=60),
        ]
        try:
            while time.monotonic() < deadline:
                response = rng.choice(operations)()
                with lock:
                    counts[response.status_code] = counts.get(response.status_code, 0) + 1
                if response.status_code not in ANSWERS:
                    errors.append(f"{response.request.method} {response.url}: {response.status_code} {response.text}")
                    return
        except Exception as e:  # a hung or broken connection fails the test, with the reason
            errors.append(repr(e))

    threads = [threading.Thread(target=client, args=(seed,)) for seed in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 120)
    assert not any(t.is_alive() for t in threads), "a client is still waiting for an answer"
    assert not errors, errors
    assert counts.get(200, 0) + counts.get(201, 0) > CLIENTS, counts

    listed, pending = 0, [unique_dir]
    while pending:
        directory = pending.pop()
        for status in requests.get(url(directory), params={"op": "LISTSTATUS"}, timeout=60).json()[
                "FileStatuses"]["FileStatus"]:
            path = f"{directory}/{status['pathSuffix']}"
            if status["type"] == "DIRECTORY":
                pending.append(path)
                continue
            data = requests.get(url(path), params={"op": "OPEN"}, timeout=60).content
            assert len(data) == status["length"] and len(data) % CHUNK == 0, path
            assert all(data[i:i + CHUNK] in written for i in range(0, len(data), CHUNK)), path
            listed += 1
    report = cluster.fsck()
    assert report["namespace"] == [] and report["totals"]["unreachable_inodes"] == 0, report["namespace"]
    assert cluster.fsck(unique_dir)["totals"]["status"] == "HEALTHY"
    conflicts = [line for line in requests.get(f"{cluster.url}/metrics", timeout=60).text.splitlines()
                 if line.startswith("dfs_namespace_conflicts_total ")]
    print(f"{sum(counts.values())} requests in {seconds:g} s {counts}; {listed} files left, all read back; {conflicts}")
