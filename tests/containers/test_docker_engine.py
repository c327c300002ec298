"""docker-stack.yml, unchanged, deployed with `docker stack deploy` on a real one-node swarm (Debian's docker.io):
the services become healthy, the secret reaches the non-root user, and a file goes in and comes back out."""

import json
import os
import time
from pathlib import Path

import pytest

import docker_swarm
import podman_cluster

REPO = Path(__file__).resolve().parent.parent.parent
STACK = "dfst"

_reason = podman_cluster.unavailable_reason() or docker_swarm.unavailable_reason()
pytestmark = pytest.mark.skipif(_reason is not None, reason=str(_reason))


@pytest.fixture(scope="module")
def swarm(tmp_path_factory):
    docker_swarm.sweep_abandoned()
    started = time.monotonic()
    podman_cluster.build_image()
    secret = tmp_path_factory.mktemp("swarm-secret") / "cluster.secret"
    secret.write_text(os.urandom(32).hex())
    swarm = docker_swarm.Swarm()
    try:
        swarm.start()
        swarm.load_from_podman(podman_cluster.IMAGE, podman_cluster.podman_env())
        print(f"swarm up, image loaded after {time.monotonic() - started:.0f} s")
        swarm.deploy(REPO / "docker-stack.yml", STACK, env={
            "DATA_HOST": "127.0.0.1",
            "DFS_IMAGE": podman_cluster.IMAGE,
            "DFS_SECRET_SOURCE": str(secret),
        })
        yield swarm
    finally:
        swarm.destroy(STACK)
        print(f"swarm removed; {time.monotonic() - started:.0f} s in all")


def _curl(swarm, *args):
    result = swarm.in_netns(["curl", "--silent", "--show-error", "--max-time", "20", *args])
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout


def _wait(swarm, predicate, timeout, what):
    try:
        return podman_cluster.wait_for(predicate, timeout, what)
    except AssertionError as error:
        logs = "\n".join(
            swarm.docker("service", "logs", "--tail", "30", f"{STACK}_{service}", check=False).stdout
            for service in ("namenode", "datanode")
        )
        raise AssertionError(f"{error}\n{swarm.containers(STACK)}\n{logs}") from None


def test_services_become_healthy_and_the_datanode_joins(swarm):
    def all_healthy():
        statuses = swarm.containers(STACK)
        return len(statuses) == 2 and all("(healthy)" in status for status in statuses.values())

    _wait(swarm, all_healthy, 90, "namenode and datanode healthy")

    def joined():
        nodes = json.loads(_curl(swarm, "http://127.0.0.1:8180/cluster"))["nodes"]
        return [n for n in nodes if n["state"] == "alive"]

    (node,) = _wait(swarm, joined, 60, "the datanode alive in /cluster")
    assert node["public_url"] == "http://127.0.0.1:8181"
    # The namenode reaches the datanode at its address on the stack's network, not at a loopback address.
    assert not node["url"].startswith("http://127."), node["url"]


def test_secret_is_readable_by_the_service_user_only(swarm):
    (namenode,) = [name for name in swarm.containers(STACK) if name.startswith(f"{STACK}_namenode.")]
    listing = swarm.docker("exec", namenode, "ls", "-ln", "/run/secrets/cluster_secret").stdout.split()
    assert listing[0] == "-r--------" and listing[2:4] == ["10001", "10001"], listing
    assert swarm.docker("exec", namenode, "cat", "/run/secrets/cluster_secret").stdout.strip()


def test_upload_and_read_through_the_published_ports(swarm, tmp_path):
    source = tmp_path / "payload.bin"
    source.write_bytes(os.urandom(2 * 1024 * 1024 + 777))
    url = "http://127.0.0.1:8180/webhdfs/v1/swarm/payload.bin"
    status = _curl(swarm, "--location", "--upload-file", str(source), "--output", "/dev/null",
                   "--write-out", "%{http_code}", f"{url}?op=CREATE&overwrite=true")
    assert status == b"201"
    served = _curl(swarm, "--location", "--fail", "--output", str(tmp_path / "read.bin"),
                   "--write-out", "%{url_effective}", f"{url}?op=OPEN")
    assert served.startswith(b"http://127.0.0.1:8181/")
    assert (tmp_path / "read.bin").read_bytes() == source.read_bytes()
