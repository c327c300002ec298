"""Where a client finds its namenode and token: option, then environment, then config file, then the default."""

import os
import tomllib

from dfs.client.core import DEFAULT_NAMENODE


def config_path():
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.environ.get("DFS_CONFIG") or os.path.join(base, "dfs", "config.toml")


def load_file(path=None):
    try:
        with open(path or config_path(), "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        return {}


def resolve(namenode=None, token=None, ca_file=None):
    """{'namenode': url, 'token': str|None, 'ca_file': path|None} from the first place that names each.

    ``ca_file`` is a PEM file of the CA that signed the cluster's certificates (a self-signed setup); without one,
    https URLs are checked against the system's trust roots."""
    file = load_file()
    return {
        "namenode": (namenode or os.environ.get("DFS_NAMENODE_URL") or file.get("namenode") or DEFAULT_NAMENODE)
        .rstrip("/"),
        "token": token or os.environ.get("DFS_TOKEN") or file.get("token"),
        "ca_file": ca_file or os.environ.get("DFS_CA_FILE") or file.get("ca_file"),
    }
