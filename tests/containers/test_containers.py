"""The project's Dockerfile, built with podman from a locally made Debian base, runs a namenode and three datanodes
as containers on their own network; the host uploads and reads through ports published on 127.0.0.1, and the data
survives a stopped datanode, which then rejoins."""

import hashlib
import os
import time

import pytest
import requests

import podman_cluster
from podman_cluster import PodmanCluster, cluster_status, wait_for

_reason = podman_cluster.unavailable_reason()
pytestmark = pytest.mark.skipif(_reason is not None, reason=str(_reason))

DATANODES = 3
STARTUP_TIMEOUT = 90
PATH = "/containers/payload.bin"


@pytest.fixture(scope="module")
def session():
    with requests.Session() as session:
        session.trust_env = False  # straight to 127.0.0.1, never through a proxy
        yield session


@pytest.fixture(scope="module")
def cluster(session):
    podman_cluster.sweep_abandoned()
    started = time.monotonic()
    print(podman_cluster.build_image())
    print(f"image ready after {time.monotonic() - started:.0f} s")
    cluster = PodmanCluster(datanodes=DATANODES, env={"DFS_INSECURE": "1", "DFS_HEARTBEAT": "1", "DFS_STALE_AFTER": "4"})
    try:
        cluster.start()
        namenode_url = cluster.nodes["namenode"].local_url

        def all_alive():
            nodes = cluster_status(namenode_url, session)["nodes"]
            return len([n for n in nodes if n["state"] == "alive"]) == DATANODES

        _wait(cluster, all_alive, STARTUP_TIMEOUT, f"{DATANODES} datanodes alive in /cluster")
        print(f"cluster up after {time.monotonic() - started:.0f} s")
        yield cluster
    finally:
        cluster.destroy()
        print(f"containers and network removed; {time.monotonic() - started:.0f} s in all")


def _wait(cluster, predicate, timeout, what):
    try:
        return wait_for(predicate, timeout, what)
    except AssertionError as error:
        raise AssertionError(f"{error}\n{cluster.logs()}") from None


def _url(cluster, path, **params):
    query = "&".join(f"{key}={value}" for key, value in params.items())
    return f"{cluster.nodes['namenode'].local_url}/webhdfs/v1{path}?{query}"


def _read(cluster, session, path):
    """OPEN through the namenode; returns the datanode it redirected to and the bytes read there."""
    redirect = session.get(_url(cluster, path, op="OPEN"), allow_redirects=False, timeout=10)
    assert redirect.status_code == 307, redirect.text
    location = redirect.headers["Location"]
    response = session.get(location, timeout=30)
    assert response.status_code == 200, response.text
    return location, response.content


def _state_of(cluster, session, node):
    for entry in cluster_status(cluster.nodes["namenode"].local_url, session)["nodes"]:
        if entry.get("public_url", "").rstrip("/") == node.local_url:
            return entry["state"]
    return None


@pytest.fixture(scope="module")
def payload():
    # Three blocks and a bit, so the file is spread over blocks and datanodes.
    return os.urandom(3 * 1024 * 1024 + 12345)


def test_image_runs_as_non_root_and_reports_health(cluster):
    for name in ("namenode", "datanode1"):
        assert cluster.exec(name, "id", "-u").stdout.strip() != "0"
        assert cluster.healthcheck(name), f"HEALTHCHECK failed in {name}\n{cluster.logs()}"


def test_upload_and_download_through_published_ports(cluster, session, payload):
    create = session.put(
        _url(cluster, PATH, op="CREATE", overwrite="true", blocksize=1024 * 1024, replication=3),
        allow_redirects=False, timeout=10,
    )
    assert create.status_code == 307, create.text
    upload = session.put(create.headers["Location"], data=payload, timeout=60)
    assert upload.status_code == 201, upload.text

    location, data = _read(cluster, session, PATH)
    assert location.startswith("http://127.0.0.1:"), location
    cluster.node_by_public_url(location.split("/webhdfs/")[0])  # a datanode's published port
    assert hashlib.sha256(data).hexdigest() == hashlib.sha256(payload).hexdigest()


def test_stopped_datanode_keeps_data_readable_then_rejoins(cluster, session, payload):
    location, _ = _read(cluster, session, PATH)
    victim = cluster.node_by_public_url(location.split("/webhdfs/")[0])

    cluster.stop(victim.name)
    assert not cluster.is_running(victim.name)
    _wait(cluster, lambda: _state_of(cluster, session, victim) in ("stale", "dead"), 60,
          f"{victim.name} no longer alive")

    location, data = _read(cluster, session, PATH)
    assert victim.local_url not in location, "read was sent to the stopped datanode"
    assert data == payload

    cluster.start_again(victim.name)
    _wait(cluster, lambda: _state_of(cluster, session, victim) == "alive", 60, f"{victim.name} alive again")
    assert cluster.healthcheck(victim.name)
    _, data = _read(cluster, session, PATH)
    assert data == payload
