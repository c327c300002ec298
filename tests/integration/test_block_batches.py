"""Small blocks travel to datanodes in batches: the datanode endpoint, and many concurrent small uploads."""

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor

import requests

H = {"Content-Type": "application/octet-stream"}


def test_a_datanode_stores_each_block_of_a_batch_under_its_own_id(cluster):
    datanode = cluster.datanodes[0].url
    pieces = [os.urandom(n) for n in (1, 5000, 70_000)]
    r = requests.put(datanode + "/blocks/batch", params={"lengths": ",".join(str(len(p)) for p in pieces)},
                     data=b"".join(pieces), headers=H)
    assert r.status_code == 201, r.text
    assert r.json()["blocks"] == [{"id": hashlib.sha256(p).hexdigest(), "length": len(p)} for p in pieces]
    for piece in pieces:
        got = requests.get(f"{datanode}/blocks/{hashlib.sha256(piece).hexdigest()}")
        assert got.status_code == 200 and got.content == piece


def test_a_batch_that_does_not_add_up_is_refused_and_stores_nothing(cluster):
    datanode = cluster.datanodes[0].url
    piece = os.urandom(100)
    for lengths, status in (("100,1", 400), ("50", 400), ("0,100", 400), ("ten", 400)):
        r = requests.put(datanode + "/blocks/batch", params={"lengths": lengths}, data=piece, headers=H)
        assert r.status_code == status, (lengths, r.text)
        assert r.json()["RemoteException"]["exception"] == "IllegalArgumentException"
    missing = requests.head(f"{datanode}/blocks/{hashlib.sha256(piece).hexdigest()}")
    assert missing.status_code == 404


def test_many_concurrent_small_uploads_all_read_back(cluster, unique_dir):
    files = {f"{unique_dir}/f{i:03d}": os.urandom(1 + i * 97) for i in range(200)}
    files[f"{unique_dir}/same-a"] = files[f"{unique_dir}/same-b"] = b"identical bytes in one batch"

    def put(item):
        path, data = item
        with requests.Session() as s:
            r = s.put(cluster.url + "/webhdfs/v1" + path, params={"op": "CREATE", "data": "true"}, data=data,
                      headers=H)
        return r.status_code

    with ThreadPoolExecutor(16) as pool:
        assert set(pool.map(put, files.items())) == {201}
    for path, data in files.items():
        r = requests.get(cluster.url + "/webhdfs/v1" + path, params={"op": "OPEN"})
        assert r.status_code == 200 and r.content == data, path
    report = cluster.fsck(unique_dir)
    assert report["totals"]["status"] == "HEALTHY", report["totals"]
    assert all(len(set(b["replicas"])) == 3 for entry in report["files"] for b in entry["blocks"])
