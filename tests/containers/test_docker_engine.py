"""docker-stack.yml, unchanged, on a real docker engine (Debian's docker.io, started by the test in a network namespace
of its own): deployed with `docker stack deploy` on a one-node swarm, and run with `docker-compose` on the same host.
Each time the services become healthy, the secret reaches the non-root user, and a file goes in and comes back out."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

import docker_swarm
import podman_cluster

REPO = Path(__file__).resolve().parent.parent.parent
STACK_FILE = REPO / "docker-stack.yml"
STACK = "dfst"
COMPOSE_PROJECT = "dfsc"
# The compose run shares the namespace with the stack, so it publishes other ports.
COMPOSE_PORTS = {"NAMENODE_PORT": "8280", "DATA_PORT": "8281"}

_reason = podman_cluster.unavailable_reason() or docker_swarm.unavailable_reason()
pytestmark = pytest.mark.skipif(_reason is not None, reason=str(_reason))


@pytest.fixture(scope="module")
def deployed(engine, secret_file):
    """The stack and the compose project, both started at once so their start-up waits overlap."""
    engine.deploy(STACK_FILE, STACK, env={
        "DATA_HOST": "127.0.0.1",
        "DFS_IMAGE": podman_cluster.IMAGE,
        "DFS_SECRET_SOURCE": str(secret_file),
    })
    if shutil.which("docker-compose") is None:
        yield {"compose": "docker-compose is not installed (bash .ci/container-deps installs it)"}
        return
    env = {**engine.env(), **COMPOSE_PORTS, "DFS_IMAGE": podman_cluster.IMAGE, "DFS_SECRET_SOURCE": str(secret_file)}

    def compose(*args):
        return subprocess.run(
            ["docker-compose", "--file", str(STACK_FILE), "--project-name", COMPOSE_PROJECT, *args],
            capture_output=True, text=True, timeout=180, env=env, cwd=REPO,
        )

    up = compose("up", "--detach", "--no-build")
    try:
        yield {"compose": None if up.returncode == 0 else f"docker-compose up failed: {up.stderr}"}
    finally:
        compose("down", "--volumes", "--timeout", "5")


@pytest.fixture
def stack(engine, deployed):
    return engine


@pytest.fixture
def compose(engine, deployed):
    if deployed["compose"] is not None:
        if deployed["compose"].startswith("docker-compose is not installed"):
            pytest.skip(deployed["compose"])
        pytest.fail(deployed["compose"])
    return engine


def _check_healthy_and_joined(engine, name_filter, namenode_port, data_port):
    def all_healthy():
        statuses = engine.containers(name_filter)
        return len(statuses) == 2 and all("(healthy)" in status for status in statuses.values())

    engine.wait(name_filter, all_healthy, 90, "namenode and datanode healthy")

    token = engine.token(name_filter)

    def joined():
        status = json.loads(engine.curl(f"http://127.0.0.1:{namenode_port}/cluster", token=token))
        if status.get("totals", {}).get("safemode"):
            return None
        return [node for node in status["nodes"] if node["state"] == "alive"]

    (node,) = engine.wait(name_filter, joined, 60, "the datanode alive in /cluster, safe mode over")
    assert node["public_url"] == f"http://127.0.0.1:{data_port}"
    # The namenode reaches the datanode at its address on the stack's network, not at a loopback address.
    assert not node["url"].startswith("http://127."), node["url"]


def _check_secret(engine, container):
    listing = engine.docker("exec", container, "ls", "-ln", "/run/secrets/cluster_secret").stdout.split()
    assert listing[0].startswith("-r--") and listing[2] == "10001", listing
    assert engine.docker("exec", container, "cat", "/run/secrets/cluster_secret").stdout.strip()


def _check_round_trip(engine, name_filter, tmp_path, namenode_port, data_port):
    token = engine.token(name_filter)
    anonymous = engine.curl("--output", "/dev/null", "--write-out", "%{http_code}",
                      f"http://127.0.0.1:{namenode_port}/webhdfs/v1/?op=LISTSTATUS")
    assert anonymous == b"401", "the deployment's secret is not in force"
    source = tmp_path / "payload.bin"
    source.write_bytes(os.urandom(2 * 1024 * 1024 + 777))
    url = f"http://127.0.0.1:{namenode_port}/webhdfs/v1/engine/payload.bin"
    status = engine.curl("--location", "--upload-file", str(source), "--output", "/dev/null",
                   "--write-out", "%{http_code}", f"{url}?op=CREATE&overwrite=true", token=token)
    assert status == b"201"
    served = engine.curl("--location", "--fail", "--output", str(tmp_path / "read.bin"),
                   "--write-out", "%{url_effective}", f"{url}?op=OPEN", token=token)
    assert served.startswith(f"http://127.0.0.1:{data_port}/".encode())
    assert (tmp_path / "read.bin").read_bytes() == source.read_bytes()


def test_stack_services_become_healthy_and_the_datanode_joins(stack):
    _check_healthy_and_joined(stack, f"{STACK}_", 8180, 8181)


def test_stack_secret_is_readable_by_the_service_user_only(stack):
    container = stack.container(f"{STACK}_", f"{STACK}_namenode.")
    listing = stack.docker("exec", container, "ls", "-ln", "/run/secrets/cluster_secret").stdout.split()
    assert listing[0] == "-r--------" and listing[2:4] == ["10001", "10001"], listing
    _check_secret(stack, container)


def test_stack_upload_and_read_through_the_published_ports(stack, tmp_path):
    _check_round_trip(stack, f"{STACK}_", tmp_path, 8180, 8181)


def test_compose_runs_the_same_file_on_one_host(compose, tmp_path):
    name_filter = f"{COMPOSE_PROJECT}_"
    _check_healthy_and_joined(compose, name_filter, COMPOSE_PORTS["NAMENODE_PORT"], COMPOSE_PORTS["DATA_PORT"])
    _check_secret(compose, compose.container(name_filter, "namenode"))
    _check_round_trip(compose, name_filter, tmp_path, COMPOSE_PORTS["NAMENODE_PORT"], COMPOSE_PORTS["DATA_PORT"])
