"""A namenode whose namespace is on PostgreSQL (--db-url): the WebHDFS operations work, a restart keeps
everything, and no SQLite file is written."""

import os
import pathlib

import requests

OCTETS = {"Content-Type": "application/octet-stream"}


def test_a_namenode_on_postgresql_keeps_its_namespace_across_a_restart(postgres_url, make_cluster):
    # postgres_url first: its database is dropped after make_cluster has stopped the namenode using it
    cluster = make_cluster(namenode_args=["--db-url", postgres_url])

    def call(method, path, body=None, **params):
        if body is not None:
            params["data"] = "true"
        response = requests.request(method, f"{cluster.url}/webhdfs/v1{path}", params=params, data=body,
                                    headers=OCTETS, timeout=60)
        assert response.status_code in (200, 201), response.text
        return response

    data = os.urandom(200_000)
    call("PUT", "/d/f", data, op="CREATE", blocksize=65536)
    call("PUT", "/d/e", op="MKDIRS")
    assert call("PUT", "/d/f", op="RENAME", destination="/d/e/g").json() == {"boolean": True}
    call("POST", "/d/e/g", b"tail", op="APPEND")
    cluster_id = cluster.status()["cluster_id"]

    def check():
        listed = call("GET", "/d/e", op="LISTSTATUS").json()["FileStatuses"]["FileStatus"]
        assert [(s["pathSuffix"], s["length"]) for s in listed] == [("g", len(data) + 4)]
        assert [s["pathSuffix"] for s in call("GET", "/d", op="LISTSTATUS").json()["FileStatuses"]["FileStatus"]] \
            == ["e"]
        assert call("GET", "/d/e/g", op="OPEN").content == data + b"tail"

    check()
    cluster.restart_namenode()
    status = cluster.wait_for(lambda s: s["totals"]["alive"] == 3 and not s["totals"]["safemode"])
    assert status["cluster_id"] == cluster_id
    check()
    assert cluster.fsck()["namespace"] == []
    written = [*pathlib.Path(cluster.root).rglob("*.sqlite*"), *pathlib.Path.cwd().glob("dfs-namenode.sqlite*")]
    assert written == [], "a namenode on PostgreSQL writes no SQLite file"
    assert "postgresql://" in cluster.namenode.log() and "namenode.sqlite" not in cluster.namenode.log()
