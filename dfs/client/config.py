"""Where a client finds its namenode, token and timeouts: option, then environment, then config file, then the
default."""

import getpass
import os
from urllib.parse import urlsplit

from dfs.errors import BadRequest

DEFAULT_PORT = 8180
DEFAULT_UMASK = 0o022  # Hadoop's fs.permissions.umask-mode
DEFAULT_NAMENODE = f"http://127.0.0.1:{DEFAULT_PORT}"
# webhdfs:// and swebhdfs:// are Hadoop's names for the same HTTP API (hdfs dfs -ls webhdfs://host:port/).
SCHEMES = {"http": "http", "https": "https", "webhdfs": "http", "swebhdfs": "https"}


def config_path():
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.environ.get("DFS_CONFIG") or os.path.join(base, "dfs", "config.toml")


def load_file(path=None):
    try:
        with open(path or config_path(), "rb") as f:
            import tomllib  # here: most runs have no config file, and the parser takes a while to load

            return tomllib.load(f)
    except FileNotFoundError:
        return {}


def namenode_url(text):
    """The namenode's base URL from ``host``, ``host:port`` or a URL (http, https, webhdfs, swebhdfs).

    Without a scheme, or with Hadoop's webhdfs schemes, the port defaults to dfs's 8180; an http(s) URL keeps its
    scheme's port and any path prefix (a namenode behind a proxy). Raises BadRequest for anything else."""
    given = str(text).strip()
    url = given if "://" in given else "http://" + given
    try:
        parts = urlsplit(url)
        scheme, host, port = SCHEMES.get(parts.scheme.lower()), parts.hostname, parts.port
    except ValueError:  # a port that is not a number, or out of range
        scheme = host = None
    if scheme is None or not host or parts.query or parts.fragment:
        raise BadRequest(f"not a namenode address: {text!r} (give host:port or http[s]://host:port)")
    if port is None and ("://" not in given or parts.scheme.lower() not in ("http", "https")):
        port = DEFAULT_PORT
    netloc = (f"[{host}]" if ":" in host else host) + (f":{port}" if port else "")
    path = parts.path.rstrip("/").removesuffix("/webhdfs/v1")
    return f"{scheme}://{netloc}{path}"


def namenode_urls(text):
    """The base URLs of a comma-separated list of namenodes (or a list, as a config file may give), each as
    ``namenode_url`` takes it, in order: a client tries the next one when one cannot be reached or answers 503."""
    parts = text if isinstance(text, (list, tuple)) else str(text).split(",")
    urls = [namenode_url(part) for part in parts if str(part).strip()]
    if not urls:
        raise BadRequest(f"not a namenode address: {text!r} (give host:port or http[s]://host:port)")
    return urls


def umask_value(text):
    """A umask from its octal text (``022``, ``0o077``) or number; BadRequest for anything else."""
    try:
        mask = text if isinstance(text, int) else int(str(text).strip().lower().removeprefix("0o"), 8)
    except ValueError:
        mask = -1
    if not 0 <= mask <= 0o777:
        raise BadRequest(f"umask must be octal, 000 to 777, not {text!r}")
    return mask


def resolve(namenode=None, token=None, ca_file=None, connect_timeout=None, read_timeout=None, umask=None, user=None):
    """{'namenode': url, 'namenodes': [url...], 'token': str|None, 'ca_file': path|None, 'timeouts': Timeouts,
    'umask': int, 'user': str|None} from the first place that names each.

    ``user`` ($DFS_USER, ``user`` in the file, default the local user's name) is sent as ``user.name``, as Hadoop's
    client does: on a cluster without a secret the namenode checks permissions as that user (a token's user
    replaces it on a cluster with one).

    ``ca_file`` is a PEM file of the CA that signed the cluster's certificates (a self-signed setup); without one,
    https URLs are checked against the system's trust roots. ``umask`` ($DFS_UMASK, ``umask`` in the file, default
    022) clears mode bits of the files and directories the client creates, as Hadoop's client does. The timeouts
    are seconds ($DFS_CONNECT_TIMEOUT, $DFS_READ_TIMEOUT; ``connect_timeout`` and ``read_timeout`` in the file)."""
    from dfs.http import Timeouts  # here: commands that need no cluster start faster

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

    namenodes = namenode_urls(namenode or os.environ.get("DFS_NAMENODE_URL") or file.get("namenode")
                              or DEFAULT_NAMENODE)
    return {
        "namenode": namenodes[0],
        "namenodes": namenodes,
        "token": token or os.environ.get("DFS_TOKEN") or file.get("token"),
        "ca_file": ca_file or os.environ.get("DFS_CA_FILE") or file.get("ca_file"),
        "timeouts": Timeouts(seconds(connect_timeout, "connect_timeout", defaults.connect),
                             seconds(read_timeout, "read_timeout", defaults.read)),
        "umask": umask_value(next(value for value in (umask, os.environ.get("DFS_UMASK") or None, file.get("umask"),
                                                      DEFAULT_UMASK) if value is not None)),
        "user": user or os.environ.get("DFS_USER") or file.get("user") or local_user(),
    }


def local_user():
    """The name of the user running this process, None when it has none."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None
