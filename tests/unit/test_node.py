"""`python -m dfs.node`: the role comes from the argument or DFS_NODE_CLASS, as in the original DFS."""

import os
import subprocess
import sys

import pytest

from dfs.devcluster import twistd_env
from dfs.node import plugin_for


@pytest.mark.parametrize("name, plugin", [("namenode", "dfs-namenode"), ("DataNode", "dfs-datanode"),
                                          ("dfs-datanode", "dfs-datanode")])
def test_role_names(name, plugin):
    assert plugin_for(name) == plugin


def test_unknown_role_is_a_clear_error():
    with pytest.raises(SystemExit) as e:
        plugin_for("broker")
    assert "namenode or datanode" in str(e.value)


@pytest.mark.parametrize("node_class, option", [("datanode", "--root"), ("namenode", "--db")])
def test_node_class_picks_the_role(node_class, option):
    env = dict(twistd_env(), DFS_NODE_CLASS=node_class)
    result = subprocess.run([sys.executable, "-m", "dfs.node", "--help"], env=env, capture_output=True, timeout=60,
                            cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    assert result.returncode == 0 and option in result.stdout.decode(), result
