"""The package works once installed: a wheel in a fresh virtualenv, used from a directory that is not the checkout."""

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

from cluster import Process

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = "twisted/plugins/dfs_plugins.py"
BUILD_LEFTOVERS = [".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".hypothesis", "run", "bench", "tests"]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(wheel, bin directory, environment) of dfs built as a wheel and installed into a new virtualenv."""
    base = tmp_path_factory.mktemp("installed")
    # A copy without build/ or *.egg-info, which setuptools would reuse and so ship files the configuration omits.
    source = base / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*BUILD_LEFTOVERS))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(base / "dist"), str(source)],
                   check=True, cwd=base, timeout=300)
    wheel = next((base / "dist").glob("dfs-*.whl"))
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    # Dependencies come from the index through pip's own cache, as a user's install would.
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                    str(wheel)], check=True, timeout=600)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("DFS_")}
    return wheel, venv / "bin", env


@pytest.fixture
def elsewhere(tmp_path):
    """A working directory with nothing of the checkout in it."""
    directory = tmp_path / "elsewhere"
    directory.mkdir()
    return directory


def run(command, env, cwd):
    return subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_the_wheel_ships_the_plugin_file_alone(installed):
    wheel, _, _ = installed
    names = zipfile.ZipFile(wheel).namelist()
    assert PLUGIN in names
    # Twisted's plugin directory must stay a namespace: an __init__.py would hide Twisted's own plugins.
    assert not [n for n in names if n.startswith("twisted/") and n.endswith("__init__.py")]


@pytest.mark.parametrize("command", [["twistd", "dfs-namenode", "--help"], ["twistd", "dfs-datanode", "--help"],
                                     ["dfs", "--help"]])
def test_commands_answer_from_any_directory(installed, elsewhere, command):
    _, bin_dir, env = installed
    result = run([str(bin_dir / command[0]), *command[1:]], env, elsewhere)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Usage" in result.stdout or "usage" in result.stdout
    assert "Unknown command" not in result.stdout + result.stderr


def test_a_cluster_from_the_installed_package_stores_a_file(installed, elsewhere, tmp_path):
    _, bin_dir, env = installed

    def installed_twistd(role, args):
        return [str(bin_dir / "twistd"), "-n", "--pidfile=", role, *args], env

    logs = tmp_path / "logs"
    logs.mkdir()
    namenode = Process("dfs-namenode", ["--listen", "tcp:0:interface=127.0.0.1", "--db", str(tmp_path / "nn.sqlite"),
                                        "--replication", "1", "--min-replicas", "1", "--heartbeat", "0.5"],
                       str(logs / "namenode.log"), launcher=installed_twistd, cwd=elsewhere)
    datanode = None
    try:
        namenode.start(timeout=60)
        datanode = Process("dfs-datanode", ["--listen", "tcp:0:interface=127.0.0.1", "--root", str(tmp_path / "dn"),
                                            "--namenode", namenode.url, "--heartbeat", "0.5"],
                           str(logs / "datanode.log"), launcher=installed_twistd, cwd=elsewhere)
        datanode.start(timeout=60)
        _wait_for_live_datanode(namenode.url)

        (elsewhere / "hello.txt").write_bytes(b"installed and working\n")
        dfs = [str(bin_dir / "dfs"), "--namenode", namenode.url]
        put = run([*dfs, "put", "hello.txt", "/hello.txt"], env, elsewhere)
        assert put.returncode == 0, put.stderr
        cat = run([*dfs, "cat", "/hello.txt"], env, elsewhere)
        assert (cat.returncode, cat.stdout) == (0, "installed and working\n"), cat.stderr
    finally:
        for process in (datanode, namenode):
            if process is not None:
                process.stop()


def _wait_for_live_datanode(url, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with urllib.request.urlopen(url + "/cluster", timeout=10) as response:
            totals = json.load(response)["totals"]
        if totals["alive"] >= 1 and not totals["safemode"]:
            return
        time.sleep(0.2)
    raise AssertionError(f"no live datanode after {timeout} s")
