"""What the operator is told is true: a decommission that cannot finish says so, an unknown node is named as such,
and datanodes sharing one disk count its capacity once."""

import json
import os
import socket
import subprocess
import sys
import time

import requests

H = {"Content-Type": "application/octet-stream"}


def dfs(cluster, *args, timeout=120):
    return subprocess.run([sys.executable, "-m", "dfs.cli", "--namenode", cluster.url, *args], capture_output=True,
                          timeout=timeout, env=dict(os.environ, DFS_TOKEN=""))


def test_a_decommission_that_cannot_finish_says_so(make_cluster):
    cluster = make_cluster()
    r = requests.put(cluster.url + "/webhdfs/v1/f", params={"op": "CREATE", "data": "true"}, data=b"x" * 5000,
                     headers=H, timeout=60)
    assert r.status_code == 201
    node_id = cluster.status()["nodes"][0]["id"]

    waited = dfs(cluster, "decommission", "--wait", node_id, timeout=60)
    assert waited.returncode == 1, waited
    assert (f"dfs: decommission: {node_id}: cannot finish: 1 of its blocks need more replicas than the 2"
            " datanode(s) in service can hold") in waited.stderr.decode()
    assert f"{node_id}: 1 blocks still to copy" in waited.stderr.decode(), "--wait shows progress"
    status = cluster.status()
    assert status["verdict"]["state"] == "degraded" and "cannot finish" in status["verdict"]["text"]
    assert "cannot finish" in dfs(cluster, "status").stdout.decode()
    assert dfs(cluster, "decommission", "--cancel", node_id).returncode == 0

    unknown = dfs(cluster, "decommission", "nosuchnode")
    assert (unknown.returncode, unknown.stderr.decode()) == (
        1, "dfs: decommission: no datanode named nosuchnode (dfs status lists them)\n")


def test_datanodes_on_one_filesystem_count_its_capacity_once(cluster):
    status = cluster.status()
    nodes = status["nodes"]
    assert len({n["filesystem"] for n in nodes}) == 1, "the fixture's datanodes share one temporary directory"
    assert status["totals"]["capacity"] == nodes[0]["capacity"]
    df = json.loads(dfs(cluster, "df", "--json").stdout)
    assert df["capacity"] == nodes[0]["capacity"]


def test_abandoned_uploads_log_no_error(make_cluster):
    """Clients that go away mid-body, or right after the last byte: no traceback, no unhandled error (the fixture
    checks the daemons' logs), and the cluster takes the next upload."""
    cluster = make_cluster()
    body = os.urandom(300_000)
    for query, headers, sent in [("full", f"Content-Length: {len(body)}", body),
                                 ("half", f"Content-Length: {2 * len(body)}", body),
                                 ("chunked", "Transfer-Encoding: chunked", b"%x\r\n" % len(body) + body + b"\r\n")]:
        with socket.create_connection(("127.0.0.1", cluster.namenode.port), timeout=10) as s:
            s.sendall(f"PUT /webhdfs/v1/{query}?op=CREATE&data=true HTTP/1.1\r\nHost: x\r\n{headers}\r\n\r\n".encode()
                      + sent)
    deadline = time.monotonic() + 30
    while cluster.namenode.log().count("abandoned upload") + cluster.namenode.log().count("went away") < 3:
        assert time.monotonic() < deadline, cluster.namenode.log()[-3000:]
        time.sleep(0.2)
    r = requests.put(cluster.url + "/webhdfs/v1/after", params={"op": "CREATE", "data": "true"}, data=body,
                     headers=H, timeout=60)
    assert r.status_code == 201
