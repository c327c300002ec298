"""docker-stack.yml is valid for `docker stack deploy` and says what the deployment promises."""

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent.parent
STACK_FILE = REPO / "docker-stack.yml"

CLI_PATH = "/usr/local/bin:/usr/bin:/bin"


def _stack_config_unavailable():
    docker = shutil.which("docker", path=CLI_PATH)
    if docker is None:
        return "the docker CLI is not installed"
    probe = subprocess.run([docker, "stack", "config", "--help"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"{docker} has no `docker stack config` (a CLI of 2023 or later has)"
    return None


_reason = _stack_config_unavailable()
pytestmark = pytest.mark.skipif(_reason is not None, reason=str(_reason))


def stack_config(**env):
    result = subprocess.run(
        ["docker", "stack", "config", "-c", str(STACK_FILE)],
        capture_output=True, text=True, timeout=60, cwd=REPO,
        env={"PATH": CLI_PATH, "HOME": "/nonexistent", **env},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_stack_config_succeeds_without_settings():
    assert "dfs-datanode" in stack_config()


def test_datanodes_advertise_data_host_on_a_host_mode_port_on_every_node():
    config = stack_config(DATA_HOST="{{.Node.Hostname}}")
    assert "DFS_PUBLIC_URL: http://{{.Node.Hostname}}:8181" in config
    assert "mode: global" in config
    assert "mode: host" in config


def test_cluster_secret_is_a_swarm_secret():
    config = stack_config(DATA_HOST="dfs.example")
    assert "DFS_SECRET_FILE: /run/secrets/cluster_secret" in config
    assert "node.role == manager" in config
