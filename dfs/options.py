"""Options both twistd plugins share (every one falls back to a DFS_* environment variable) and the listening service."""

import os

from twisted.application import service
from twisted.internet import endpoints
from twisted.logger import Logger
from twisted.python import usage

from dfs import logs
from dfs.http import Timeouts, ca_policy
from dfs.limits import MAX_REQUEST_LINE, Limits
from dfs.security import SecretError, load_secret

log = Logger()

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def env(name, default=None):
    value = os.environ.get(name)
    return default if value in (None, "") else value


def size_value(text):
    """'64M', '1g', '4096' -> bytes."""
    text = str(text).strip().lower().rstrip("b").rstrip("i")
    scale = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    if text and text[-1] in scale:
        return int(float(text[:-1]) * scale[text[-1]])
    return int(text)


def duration_value(text):
    """'24h', '90m', '7d', '30s', '1.5' (hours) -> seconds."""
    text = str(text).strip().lower()
    scale = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if text and text[-1] in scale:
        return float(text[:-1]) * scale[text[-1]]
    return float(text) * 3600


class Refused(SystemExit):
    """A setting that cannot work (no secret beyond loopback, an unreadable secret or CA file). twistd would print
    its whole usage text before the reason of a UsageError; this exits 1 with the reason alone, on stderr."""

    def __init__(self, role, reason):
        super().__init__(f"dfs {role}: {reason}")


class CommonOptions(usage.Options):
    """Listening, heartbeat and security options of both roles; subclasses add their own and the defaults."""

    role = "node"
    default_port = 8180

    optFlags = [
        ["insecure", None, "Allow listening beyond loopback without a cluster secret (env DFS_INSECURE=1)."],
    ]

    def __init__(self):
        super().__init__()
        self["host"] = env("DFS_HOST", "127.0.0.1")
        self["port"] = int(env("DFS_PORT", self.default_port))
        self["listen"] = env("DFS_LISTEN")
        self["heartbeat"] = float(env("DFS_HEARTBEAT", 3.0))
        self["secret-file"] = env("DFS_SECRET_FILE")
        self["insecure"] = env("DFS_INSECURE", "") in ("1", "true", "yes")
        self["log-format"] = env("DFS_LOG_FORMAT", "text")
        self["ca-file"] = env("DFS_CA_FILE")
        self["max-request-line"] = size_value(env("DFS_MAX_REQUEST_LINE", str(MAX_REQUEST_LINE)))
        self["max-header-size"] = size_value(env("DFS_MAX_HEADER_SIZE", "16K"))
        self["max-headers"] = int(env("DFS_MAX_HEADERS", 100))
        self["max-params"] = int(env("DFS_MAX_PARAMS", 100))
        self["max-body"] = size_value(env("DFS_MAX_BODY", "64M"))
        self["header-timeout"] = float(env("DFS_HEADER_TIMEOUT", 20))
        self["idle-timeout"] = float(env("DFS_IDLE_TIMEOUT", 180))
        self["connect-timeout"] = float(env("DFS_CONNECT_TIMEOUT", Timeouts().connect))
        self["read-timeout"] = float(env("DFS_READ_TIMEOUT", Timeouts().read))
        self["lag-probe-interval"] = float(env("DFS_LAG_PROBE_INTERVAL", 1.0))
        self["stall-trace"] = float(env("DFS_STALL_TRACE", 0))

    def opt_host(self, value):
        """Interface to listen on (env DFS_HOST, default 127.0.0.1)."""
        self["host"] = value

    def opt_port(self, value):
        """Port to listen on (env DFS_PORT)."""
        self["port"] = int(value)

    def opt_listen(self, value):
        """A Twisted server endpoint string, e.g. tcp:8180:interface=127.0.0.1 or ssl:...; overrides host/port."""
        self["listen"] = value

    def opt_heartbeat(self, value):
        """Seconds between datanode heartbeats (env DFS_HEARTBEAT, default 3)."""
        self["heartbeat"] = float(value)

    def opt_lag_probe_interval(self, value):
        """Seconds between two ticks of the reactor's lag probe (env DFS_LAG_PROBE_INTERVAL, default 1): a few
        milliseconds make dfs_reactor_held_cpu_seconds the longest stretches of work the reactor did without a break,
        for a benchmark; they cost a wakeup each."""
        self["lag-probe-interval"] = float(value)

    def opt_stall_trace(self, value):
        """Log where the reactor was whenever it stalled longer than this many seconds, e.g. 0.05 (env
        DFS_STALL_TRACE, default 0: off): a thread samples its stack while the lag probe is late."""
        self["stall-trace"] = float(value)

    def opt_log_format(self, value):
        """text (twistd's lines, the default) or json (one object per line, for containers) (env DFS_LOG_FORMAT)."""
        self["log-format"] = value

    def opt_secret_file(self, value):
        """File holding the cluster secret (env DFS_SECRET_FILE)."""
        self["secret-file"] = value

    def opt_ca_file(self, value):
        """PEM file of the CA(s) to trust when calling other nodes over https (env DFS_CA_FILE)."""
        self["ca-file"] = value

    def opt_max_request_line(self, value):
        """Longest request line, e.g. 200K (default 112K: room for two of the longest paths); longer ones get 414
        (env DFS_MAX_REQUEST_LINE)."""
        self["max-request-line"] = size_value(value)

    def opt_max_header_size(self, value):
        """Most bytes of request headers, e.g. 16K; more get 431 (env DFS_MAX_HEADER_SIZE)."""
        self["max-header-size"] = size_value(value)

    def opt_max_headers(self, value):
        """Most request headers; more get 431 (env DFS_MAX_HEADERS, default 100)."""
        self["max-headers"] = int(value)

    def opt_max_params(self, value):
        """Most query parameters; more get 414 (env DFS_MAX_PARAMS, default 100)."""
        self["max-params"] = int(value)

    def opt_max_body(self, value):
        """Largest request body except file data, e.g. 64M; larger get 413 (env DFS_MAX_BODY)."""
        self["max-body"] = size_value(value)

    def opt_header_timeout(self, value):
        """Seconds a client has to send a request's headers, else 408 (env DFS_HEADER_TIMEOUT, default 20)."""
        self["header-timeout"] = float(value)

    def opt_idle_timeout(self, value):
        """Seconds an idle connection is kept open (env DFS_IDLE_TIMEOUT, default 180)."""
        self["idle-timeout"] = float(value)

    def opt_connect_timeout(self, value):
        """Seconds to wait for a connection to another node (env DFS_CONNECT_TIMEOUT, default 10)."""
        self["connect-timeout"] = float(value)

    def opt_read_timeout(self, value):
        """Seconds a request to another node may go without a byte moving (env DFS_READ_TIMEOUT, default 60)."""
        self["read-timeout"] = float(value)

    def timeouts(self):
        """The bounds of this node's own requests to other nodes (dfs.http)."""
        return Timeouts(self["connect-timeout"], self["read-timeout"])

    def endpoint_description(self):
        if self["listen"]:
            return self["listen"]
        host = self["host"].replace(":", r"\:")
        return f"tcp:{self['port']}:interface={host}"

    def listens_beyond_loopback(self):
        description = self.endpoint_description()
        for part in description.split(":"):
            if part.startswith("interface="):
                return part.split("=", 1)[1].replace("\\", "") not in LOOPBACK
        return True

    def limits(self, **role):
        """The HTTP limits these options set; ``role`` adds what only one role knows (uploads, admission)."""
        return Limits(max_request_line=self["max-request-line"], max_header_size=self["max-header-size"],
                      max_headers=self["max-headers"], max_params=self["max-params"], max_body=self["max-body"],
                      header_timeout=self["header-timeout"], idle_timeout=self["idle-timeout"], **role)

    def secret(self):
        return load_secret(self["secret-file"]) if self["secret-file"] else None

    def https_policy(self):
        """How this node verifies the certificates of other nodes: the CA file's, else the system's trust roots."""
        return ca_policy(self["ca-file"]) if self["ca-file"] else None

    def postOptions(self):
        if self["log-format"] not in logs.FORMATS:
            raise usage.UsageError(f"--log-format must be one of {', '.join(logs.FORMATS)}, not {self['log-format']!r}")
        logs.choose_observer(self)
        try:
            self.secret()
            self.https_policy()
        except (SecretError, OSError, ValueError) as e:
            raise Refused(self.role, e) from None
        if self.listens_beyond_loopback() and not self["secret-file"] and not self["insecure"]:
            raise Refused(
                self.role,
                f"refusing to listen on {self.endpoint_description()!r} without a cluster secret: anyone who can"
                " reach the port could read, write or wipe the cluster. Give --secret-file (DFS_SECRET_FILE), or"
                " --insecure (DFS_INSECURE=1) on a trusted network.",
            )


class ListeningService(service.Service):
    """Listens on an endpoint string and reports the bound address, so ``tcp:0`` works (tests read the port)."""

    def __init__(self, reactor, description, site, role, on_listening=None):
        self.reactor = reactor
        self.description = description
        self.site = site
        self.role = role
        self.on_listening = on_listening
        self.port = None

    def startService(self):
        super().startService()
        d = endpoints.serverFromString(self.reactor, self.description).listen(self.site)
        d.addCallback(self._listening)
        d.addErrback(self._failed)

    def _listening(self, port):
        self.port = port
        address = port.getHost()
        log.info("dfs {role} listening on {host}:{port}", role=self.role, host=address.host, port=address.port)
        if self.on_listening is not None:
            self.on_listening(address)

    def _failed(self, failure):
        log.error("dfs {role} cannot listen on {where}: {why}", role=self.role, where=self.description,
                  why=failure.getErrorMessage())
        # At start-up the reactor is not running yet; stop it as soon as it is.
        self.reactor.callWhenRunning(self.reactor.stop)

    def stopService(self):
        super().stopService()
        if self.port is not None:
            return self.port.stopListening()
