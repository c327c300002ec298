"""Fixtures of the docker engine tests: a cluster secret and a throw-away one-node swarm with the project's image."""

import os
import time

import pytest

import docker_swarm
import podman_cluster


@pytest.fixture(scope="module")
def secret_file(tmp_path_factory):
    secret = tmp_path_factory.mktemp("secret") / "cluster.secret"
    secret.write_text(os.urandom(32).hex())
    # Compose mounts the file as it is: the image's user must be able to read it.
    os.chown(secret, 10001, 10001)
    secret.chmod(0o400)
    return secret


@pytest.fixture(scope="module")
def engine():
    started = time.monotonic()
    podman_cluster.build_image()
    swarm = docker_swarm.Swarm()
    try:
        swarm.start()
        loaded = swarm.load_from_podman(podman_cluster.IMAGE, podman_cluster.podman_env())
        print(f"docker engine and swarm up, image {'loaded' if loaded else 'already there'}"
              f" after {time.monotonic() - started:.0f} s")
        yield swarm
    finally:
        swarm.destroy()
        print(f"docker engine removed; {time.monotonic() - started:.0f} s in all")
