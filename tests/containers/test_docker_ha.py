"""docker-stack.yml with docker-stack.ha.yml on a real one-node swarm (Debian's docker.io, as test_docker_engine.py):
PostgreSQL with its password as a secret, two namenode replicas on it, the datanode reporting to each replica it finds
in tasks.namenode. Files are written with the dfs CLI through one address in front of the replicas; one replica is
killed (SIGKILL) while the writes go on; the writes continue, the swarm's replacement replica hears from the
datanode, and every acknowledged file reads back with its SHA-256.

This kernel has no IPVS, so no routing mesh: tests/containers/stack-no-ipvs.yml (layered last) gives the namenodes
DNS round robin and a port each, and puts mesh_proxy.py where the mesh would be (each connection to a live replica).
Everything is reached through ports published on 127.0.0.1 of the engine's network namespace."""

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import docker_swarm
import podman_cluster

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
STACK_FILES = [REPO / "docker-stack.yml", REPO / "docker-stack.ha.yml", HERE / "stack-no-ipvs.yml"]
STACK = "dfsha"
POSTGRES_IMAGE = os.environ.get("DFS_TEST_POSTGRES_IMAGE", "localhost/dfs-test-postgres:15")
MESH_PORT = 8190
DATA_PORT = 8191
REPLICAS = 2
FILES_BEFORE, FILES_AFTER = 4, 8  # acknowledged writes before the kill, and after it

_reason = podman_cluster.unavailable_reason() or docker_swarm.unavailable_reason()
pytestmark = pytest.mark.skipif(_reason is not None, reason=str(_reason))


def build_postgres_image():
    """PostgreSQL on the test base image (tests/containers/postgres/), built once and then kept, like the base."""
    if podman_cluster.podman("image", "exists", POSTGRES_IMAGE, check=False).returncode == 0:
        return
    podman_cluster.podman("build", "--pull=never", "--format", "docker",
                          "--build-arg", "BASE=localhost/dfs-test-base:bookworm", "--tag", POSTGRES_IMAGE,
                          "--file", str(HERE / "postgres" / "Containerfile"), str(HERE / "postgres"), timeout=900)


@pytest.fixture(scope="module")
def stack(engine, secret_file, tmp_path_factory):
    build_postgres_image()
    engine.load_from_podman(POSTGRES_IMAGE, podman_cluster.podman_env())
    password = tmp_path_factory.mktemp("db") / "db.password"
    password.write_text(os.urandom(24).hex())
    engine.deploy(STACK_FILES, STACK, env={
        "DATA_HOST": "127.0.0.1", "DATA_PORT": str(DATA_PORT), "NAMENODE_PORT": "0", "MESH_PORT": str(MESH_PORT),
        "NAMENODE_REPLICAS": str(REPLICAS), "MESH_PROXY_SOURCE": str(HERE / "mesh_proxy.py"),
        "DFS_IMAGE": podman_cluster.IMAGE, "DFS_POSTGRES_IMAGE": POSTGRES_IMAGE,
        "DFS_SECRET_SOURCE": str(secret_file), "DFS_DB_PASSWORD_SOURCE": str(password),
    })

    def healthy():
        statuses = engine.containers(f"{STACK}_")
        namenodes = [s for name, s in statuses.items() if "_namenode." in name]
        return (len(namenodes) == REPLICAS and all("(healthy)" in s for s in namenodes)
                and any("_datanode." in name and "(healthy)" in s for name, s in statuses.items())
                and any("_postgres." in name and "(healthy)" in s for name, s in statuses.items()))

    engine.wait(f"{STACK}_", healthy, 240, "PostgreSQL, both namenodes and the datanode healthy")
    return engine


def namenode_ports(engine):
    """{container: the port it publishes on the engine's 127.0.0.1} of every running namenode replica."""
    ports = {}
    for name in engine.containers(f"{STACK}_namenode."):
        published = engine.docker("port", name, "8180/tcp").stdout.split()
        ports[name] = int(published[0].rsplit(":", 1)[1])
    return ports


def alive_datanodes(engine, port, token):
    try:
        status = json.loads(engine.curl(f"http://127.0.0.1:{port}/cluster", token=token))
    except (AssertionError, ValueError):
        return []
    if status.get("totals", {}).get("safemode"):
        return []
    return [node for node in status["nodes"] if node["state"] == "alive"]


def every_replica_sees_the_datanode(engine, token):
    ports = namenode_ports(engine)
    return len(ports) == REPLICAS and all(len(alive_datanodes(engine, port, token)) == 1 for port in ports.values())


def dfs(engine, token, *args, timeout=120):
    """The dfs CLI of this checkout, run in the engine's network namespace, through the mesh's one address."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DFS_TOKEN": token, "DFS_CONFIG": "/nonexistent",
           "PYTHONPATH": str(REPO)}
    return engine.in_netns([sys.executable, "-m", "dfs.cli", "--namenode", f"http://127.0.0.1:{MESH_PORT}", *args],
                           timeout=timeout, env=env)


def put_until(engine, token, scratch, acked, failures, count, deadline):
    """Put new files until ``count`` more are acknowledged; the longest wait between two acknowledgements."""
    goal, last, longest = len(acked) + count, time.monotonic(), 0.0
    while len(acked) < goal:
        assert time.monotonic() < deadline, f"writes stalled: {len(acked)} acknowledged; failures {failures[-3:]}"
        data = os.urandom(100_000 + len(acked) * 4099)
        local = scratch / f"f{len(acked) + len(failures)}"
        local.write_bytes(data)
        path = f"/ha/{local.name}"
        try:
            result = dfs(engine, token, "put", str(local), path)
        except subprocess.TimeoutExpired as e:
            failures.append(f"{path}: timed out: {e}")
            continue
        if result.returncode != 0:
            failures.append(f"{path}: {result.stderr.decode()[-300:]}")
            continue
        now = time.monotonic()
        longest, last = max(longest, now - last), now
        acked[path] = hashlib.sha256(data).hexdigest()
    return longest


def test_writes_go_on_through_a_killed_namenode_replica_and_read_back(stack, tmp_path):
    token = stack.token(f"{STACK}_")
    stack.wait(f"{STACK}_", lambda: every_replica_sees_the_datanode(stack, token), 120,
               "the datanode alive on every namenode replica (found in tasks.namenode)")
    # The namenodes share the database: a directory made through one is there on the other.
    assert dfs(stack, token, "mkdir", "-p", "/ha").returncode == 0
    for port in namenode_ports(stack).values():
        listing = stack.curl(f"http://127.0.0.1:{port}/webhdfs/v1/?op=LISTSTATUS", token=token)
        assert b'"pathSuffix":"ha"' in listing.replace(b" ", b""), listing

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    acked, failures = {}, []
    deadline = time.monotonic() + 600
    put_until(stack, token, scratch, acked, failures, FILES_BEFORE, deadline)
    victim = sorted(namenode_ports(stack))[0]
    stack.docker("kill", "--signal", "KILL", victim)
    longest = put_until(stack, token, scratch, acked, failures, FILES_AFTER, deadline)
    print(f"{len(acked)} acknowledged writes, longest wait after the kill {longest:.1f} s; "
          f"{len(failures)} failed puts: {failures[:3]}")

    # The swarm replaces the killed task (a new address); the datanode finds it in DNS and reports to it.
    stack.wait(f"{STACK}_", lambda: victim not in namenode_ports(stack)
               and every_replica_sees_the_datanode(stack, token), 180,
               "a new namenode replica hearing from the datanode")
    for path, sha in acked.items():
        result = dfs(stack, token, "cat", path)
        assert result.returncode == 0, (path, result.stderr.decode())
        assert hashlib.sha256(result.stdout).hexdigest() == sha, path
