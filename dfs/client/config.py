"""Where a client finds its namenode, token and timeouts: option, then environment, then config file, then the
default."""

import os
import tomllib

from dfs.client.core import DEFAULT_NAMENODE
from dfs.errors import BadRequest
from dfs.http import Timeouts


def config_path():
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.environ.get("DFS_CONFIG") or os.path.join(base, "dfs", "config.toml")


def load_file(path=None):
    try:
        with open(path or config_path(), "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        return {}


def resolve(namenode=None, token=None, ca_file=None, connect_timeout=None, read_timeout=None):
    """{'namenode': url, 'token': str|None, 'ca_file': path|None, 'timeouts': Timeouts} from the first place that
    names each.

    ``ca_file`` is a PEM file of the CA that signed the cluster's certificates (a self-signed setup); without one,
    https URLs are checked against the system's trust roots. The timeouts are seconds ($DFS_CONNECT_TIMEOUT,
    $DFS_READ_TIMEOUT; ``connect_timeout`` and ``read_timeout`` in the file)."""
    file = load_file()
    defaults = Timeouts()

    def seconds(given, name, default):
        value = given if given is not None else os.environ.get(f"DFS_{name.upper()}") or file.get(name) or default
        try:
            value = float(value)
        except ValueError:
            raise BadRequest(f"{name} must be a number of seconds, not {value!r}") from None
        if value <= 0:
            raise BadRequest(f"{name} must be more than 0 seconds")
        return value

    return {
        "namenode": (namenode or os.environ.get("DFS_NAMENODE_URL") or file.get("namenode") or DEFAULT_NAMENODE)
        .rstrip("/"),
        "token": token or os.environ.get("DFS_TOKEN") or file.get("token"),
        "ca_file": ca_file or os.environ.get("DFS_CA_FILE") or file.get("ca_file"),
        "timeouts": Timeouts(seconds(connect_timeout, "connect_timeout", defaults.connect),
                             seconds(read_timeout, "read_timeout", defaults.read)),
    }
