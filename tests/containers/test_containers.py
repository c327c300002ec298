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
def containers(session):
    podman_cluster.sweep_abandoned()
    started = time.monotonic()
    print(podman_cluster.build_image())
    print(f"image ready after {time.monotonic() - started:.0f} s")
    nodes = PodmanCluster(datanodes=DATANODES, env={
        "DFS_INSECURE": "1",  # listening beyond loopback, on a network only this test reaches
        "DFS_HEARTBEAT": "1",
        "DFS_STALE_AFTER": "4",
    })
    try:
        nodes.start()
        namenode_url = nodes.nodes["namenode"].local_url

        def ready():
            status = cluster_status(namenode_url, session)
            alive = [node for node in status["nodes"] if node["state"] == "alive"]
            return len(alive) == DATANODES and not status.get("totals", {}).get("safemode")

        _wait(nodes, ready, STARTUP_TIMEOUT, f"{DATANODES} datanodes alive and the namenode out of safe mode")
        print(f"containers up after {time.monotonic() - started:.0f} s")
        yield nodes
    finally:
        nodes.destroy()
        print(f"containers and network removed; {time.monotonic() - started:.0f} s in all")


def _wait(containers, predicate, timeout, what):
    try:
        return wait_for(predicate, timeout, what)
    except AssertionError as error:
        raise AssertionError(f"{error}\n{containers.logs()}") from None


def _url(containers, path, **params):
    query = "&".join(f"{key}={value}" for key, value in params.items())
    return f"{containers.nodes['namenode'].local_url}/webhdfs/v1{path}?{query}"


def _read(containers, session, path):
    """OPEN through the namenode; returns the datanode it redirected to and the bytes read there."""
    redirect = session.get(_url(containers, path, op="OPEN"), allow_redirects=False, timeout=10)
    assert redirect.status_code == 307, redirect.text
    location = redirect.headers["Location"]
    response = session.get(location, timeout=30)
    assert response.status_code == 200, response.text
    return location, response.content


def _state_of(containers, session, node):
    for entry in cluster_status(containers.nodes["namenode"].local_url, session)["nodes"]:
        if entry.get("public_url", "").rstrip("/") == node.local_url:
            return entry["state"]
    return None


@pytest.fixture(scope="module")
def payload():
    # Three blocks and a bit, so the file is spread over blocks and datanodes.
    return os.urandom(3 * 1024 * 1024 + 12345)


def test_image_runs_as_non_root_and_reports_health(containers):
    for name in ("namenode", "datanode1"):
        assert containers.exec(name, "id", "-u").stdout.strip() != "0"
        assert containers.healthcheck(name), f"HEALTHCHECK failed in {name}\n{containers.logs()}"


def test_upload_and_download_through_published_ports(containers, session, payload):
    create = session.put(
        _url(containers, PATH, op="CREATE", overwrite="true", blocksize=1024 * 1024, replication=3),
        allow_redirects=False, timeout=10,
    )
    assert create.status_code == 307, create.text
    upload = session.put(create.headers["Location"], data=payload, timeout=60)
    assert upload.status_code == 201, upload.text

    location, data = _read(containers, session, PATH)
    assert location.startswith("http://127.0.0.1:"), location
    containers.node_by_public_url(location.split("/webhdfs/")[0])  # a datanode's published port
    assert hashlib.sha256(data).hexdigest() == hashlib.sha256(payload).hexdigest()


def test_stopped_datanode_keeps_data_readable_then_rejoins(containers, session, payload):
    location, _ = _read(containers, session, PATH)
    victim = containers.node_by_public_url(location.split("/webhdfs/")[0])

    containers.stop(victim.name)
    assert not containers.is_running(victim.name)
    _wait(containers, lambda: _state_of(containers, session, victim) in ("stale", "dead"), 60,
          f"{victim.name} no longer alive")

    location, data = _read(containers, session, PATH)
    assert victim.local_url not in location, "read was sent to the stopped datanode"
    assert data == payload

    containers.start_again(victim.name)
    _wait(containers, lambda: _state_of(containers, session, victim) == "alive", 60, f"{victim.name} alive again")
    assert containers.healthcheck(victim.name)
    _, data = _read(containers, session, PATH)
    assert data == payload
