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


def ha_stack_config(**env):
    result = subprocess.run(
        ["docker", "stack", "config", "-c", str(STACK_FILE), "-c", str(REPO / "docker-stack.ha.yml")],
        capture_output=True, text=True, timeout=60, cwd=REPO,
        env={"PATH": CLI_PATH, "HOME": "/nonexistent", **env},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_ha_layer_runs_namenode_replicas_on_postgresql_behind_the_routing_mesh():
    config = ha_stack_config()
    namenode = config[config.index("\n  namenode:"):config.index("\n  postgres:")]
    assert "replicas: 2" in namenode and "endpoint_mode: vip" in namenode
    assert "mode: ingress" in namenode and "mode: host" not in namenode
    assert "DFS_DB_URL: postgresql://dfs@postgres:5432/dfs" in namenode
    assert "/run/secrets/db_password" in namenode, "the password comes from the secret, not the URL"
    postgres = config[config.index("\n  postgres:"):]
    assert "POSTGRES_PASSWORD_FILE: /run/secrets/db_password" in postgres
    assert "source: postgres-data" in postgres
    datanode = config[config.index("\n  datanode:"):config.index("\n  namenode:")]
    assert "DFS_NAMENODE_URL: http://tasks.namenode:8180" in datanode and 'DFS_NAMENODE_DNS: "1"' in datanode


def test_the_ha_layer_takes_the_replica_count():
    assert "replicas: 3" in ha_stack_config(NAMENODE_REPLICAS="3")
