"""HTTP helpers both roles share: query parameters, JSON answers and the one place errors become responses."""

import json
import re
from urllib.parse import unquote

from klein.interfaces import IKleinRequest
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.error import ConnectionDone, ConnectionLost
from twisted.logger import Logger
from twisted.web.http import parse_qs
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request, Site
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect

from dfs import paths
from dfs.errors import BadRequest, DFSError, TooLarge
from dfs.limits import LimitedChannel

log = Logger()

JSON = b"application/json"
OCTETS = b"application/octet-stream"
# WebHDFS's modes go to 1777 (the sticky bit); dfs also takes the setuid and setgid bits (6000), for the mount: a
# directory's setgid gives its group to new entries, a file's are kept as POSIX keeps them (docs/permissions.md).
MAX_MODE = 0o7777
MAX_JSON_BODY = 64 * 1024 * 1024  # block reports of very full datanodes are the largest JSON bodies
TRUE, FALSE = ("true", "1", "yes"), ("false", "0", "no")
REPEATED_SLASHES = re.compile(rb"//+")
MAX_INT64 = 2 ** 63 - 1
# The WebHDFS op names (Hadoop's, and dfs's COPY): anything else a client sends is labelled "invalid" in metrics.
WEBHDFS_OPS = frozenset("""
    OPEN GETFILESTATUS LISTSTATUS LISTSTATUS_BATCH GETCONTENTSUMMARY GETQUOTAUSAGE GETFILECHECKSUM GETHOMEDIRECTORY
    GETDELEGATIONTOKEN GETTRASHROOT GETXATTRS LISTXATTRS CHECKACCESS GETACLSTATUS GETFILEBLOCKLOCATIONS
    GETSERVERDEFAULTS GETSTORAGEPOLICY GETALLSTORAGEPOLICY GETSTATUS GETTRASHROOTS GETFILELINKSTATUS GETLINKTARGET
    CREATE MKDIRS CREATESYMLINK RENAME SETREPLICATION SETOWNER SETPERMISSION SETTIMES RENEWDELEGATIONTOKEN
    CANCELDELEGATIONTOKEN SETXATTR REMOVEXATTR SETSTORAGEPOLICY UNSETSTORAGEPOLICY APPEND CONCAT TRUNCATE DELETE COPY
    LINK MKNOD SETQUOTA SETQUOTABYSTORAGETYPE ALLOWSNAPSHOT DISALLOWSNAPSHOT CREATESNAPSHOT DELETESNAPSHOT RENAMESNAPSHOT
    GETSNAPSHOTDIFF GETSNAPSHOTDIFFLISTING GETSNAPSHOTLIST GETSNAPSHOTTABLEDIRECTORYLIST SETACL MODIFYACLENTRIES
    REMOVEACLENTRIES REMOVEDEFAULTACL REMOVEACL EXPUNGE RESTORE CREATEBATCH
""".split())
# Periodic or machine-driven requests: counted in metrics, left out of the log they would drown.
UNLOGGED_OPS = frozenset({"heartbeat", "health", "metrics"})


def json_body(obj, request, code=200):
    request.setResponseCode(code)
    request.setHeader(b"Content-Type", JSON)
    return json.dumps(obj, separators=(",", ":")).encode()


SHA256 = "SHA-256"  # dfs's GETFILECHECKSUM algorithm: the file's bytes' SHA-256, equal to ``sha256sum`` of a copy


def checksum_json(algorithm, digest):
    """GETFILECHECKSUM's answer, for Hadoop's MD5-of-CRC32C (the serialised checksum) and dfs's SHA-256 alike."""
    return {"FileChecksum": {"algorithm": algorithm, "bytes": digest.hex(), "length": len(digest)}}


def render_error(request, failure):
    """Turn a failure into a RemoteException body; anything unexpected is logged and answered with a bare 500."""
    err = failure.value
    if isinstance(err, HTTPException):  # Klein's routing: no such endpoint, wrong method, a slash to add
        err = DFSError(f"{err.name}: {request.method.decode('ascii', 'replace')} {request.path.decode('ascii', 'replace')}")
        err.status, err.exception = failure.value.code, "IllegalArgumentException"
        if isinstance(failure.value, RequestRedirect):  # "/webhdfs/v1" -> "/webhdfs/v1/": say where, query kept
            query = request.uri.partition(b"?")[2]
            request.setHeader(b"Location", failure.value.new_url.encode("ascii", "replace") + b"?" * bool(query) + query)
    elif not isinstance(err, DFSError):
        if failure.check(ConnectionDone, ConnectionLost):
            return b""
        log.failure("Unhandled error in {method} {uri}", failure, method=request.method, uri=request.uri)
        err = DFSError("Internal server error")
    if err.status == 503:
        request.setHeader(b"Retry-After", b"5")
    return json_body(err.to_json(), request, err.status)


def read_json(request):
    """The request body as a JSON object (bounded), or BadRequest."""
    body = request.content.read(MAX_JSON_BODY + 1)
    if len(body) > MAX_JSON_BODY:
        raise TooLarge("JSON body too large")
    try:
        obj = json.loads(body or b"{}")
    except ValueError as e:
        raise BadRequest(f"body is not valid JSON: {e}") from None
    except RecursionError:
        raise BadRequest("body is JSON nested too deeply") from None
    if not isinstance(obj, dict):
        raise BadRequest("the body must be a JSON object")
    return obj


def has_body(request):
    """True when the client sent (or announced) a request body."""
    if request.requestHeaders.hasHeader(b"transfer-encoding"):
        return True
    length = request.getHeader(b"content-length")
    return length is not None and length.strip() not in (b"", b"0")


def request_path(request, prefix):
    """The namespace path of a request under ``prefix`` (e.g. b'/webhdfs/v1'), decoded and validated."""
    return namespace_path(request.path, prefix)


def namespace_path(url_path, prefix):
    """The namespace path in a raw URL path under ``prefix``, decoded and validated."""
    raw = url_path[len(prefix):] or b"/"
    try:
        text = unquote(raw.decode("ascii"), errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("path is not valid percent-encoded UTF-8") from None
    return paths.normalize(text)


def parse_query(query):
    """The arguments of a raw query string as twisted.web's own parser makes request.args."""
    return parse_qs(query, keep_blank_values=True)


def query_params(query):
    """The parameters of a raw query string by Params' rules, for code that sees a request before twisted.web does."""
    return _first_values(parse_query(query))


def _first_values(args):
    first = {}
    for key, values in args.items():
        name = key.decode("utf-8", "replace").lower()
        if name not in first and values:
            first[name] = values[0].decode("utf-8", "replace")
    return first


class Params:
    """WebHDFS query parameters: names and booleans case-insensitive, the first of a repeated one wins."""

    def __init__(self, request):
        self._args = _first_values(request.args)

    @classmethod
    def from_args(cls, args):
        """Params of query arguments in twisted.web's form, for code that sees a request before twisted.web
        parsed it (``parse_query`` reads them from the raw query string)."""
        params = cls.__new__(cls)
        params._args = _first_values(args)
        return params

    def __contains__(self, name):
        return name in self._args

    def items(self):
        return self._args.items()

    def str(self, name, default=None, required=False):
        value = self._args.get(name)
        if value is None:
            if required:
                raise BadRequest(f'Required param "{name}" is missing')
            return default
        return value

    def bool(self, name, default=False):
        value = self._args.get(name)
        if value is None or value == "":
            return default
        lowered = value.lower()
        if lowered in TRUE:
            return True
        if lowered in FALSE:
            return False
        raise BadRequest(f'Invalid value for webhdfs parameter "{name}": "{value}" is not a boolean')

    def int(self, name, default=None, minimum=None, maximum=None, required=False):
        value = self.str(name, required=required)
        if value == "" and required:
            raise BadRequest(f'Invalid value for webhdfs parameter "{name}": a number is required')
        if value is None or value == "":
            return default
        try:
            number = int(value)
        except ValueError:
            raise BadRequest(f'Invalid value for webhdfs parameter "{name}": "{value}" is not a number') from None
        maximum = MAX_INT64 if maximum is None else maximum  # every number is stored or computed as SQLite's
        if minimum is not None and number < minimum or number > maximum or number < -MAX_INT64 - 1:
            raise BadRequest(f'Invalid value for webhdfs parameter "{name}": {number} is out of range')
        return number

    def octal(self, name, default=None):
        value = self.str(name)
        if value is None or value == "":
            return default
        try:
            mode = int(value, 8)
        except ValueError:
            raise BadRequest(f'Invalid value for webhdfs parameter "{name}": "{value}" is not an octal mode') from None
        if not 0 <= mode <= MAX_MODE:
            raise BadRequest(f'Invalid value for webhdfs parameter "{name}": "{value}" is out of range')
        return mode

    def path(self, name, required=True):
        value = self.str(name, required=required)
        return None if value is None else paths.normalize(value)


def operation(request):
    """What a request asked for, for logs and metrics: its WebHDFS op, else the name of the route it took."""
    if getattr(request, "webhdfs_op", None) is not None:
        return request.webhdfs_op
    endpoint = getattr(request, "endpoint", None)  # a HotRoute's
    if endpoint is None:
        try:
            rule, _ = IKleinRequest(request).mapper.match(return_rule=True)
        except (AttributeError, HTTPException):  # never reached the router, or no route matched
            return "unrouted"
        endpoint = rule.endpoint.removesuffix("_branch")
    if endpoint != "webhdfs":
        return endpoint
    op = (Params(request).str("op") or "").upper()
    return op if op in WEBHDFS_OPS else "invalid"


class HotRoute(Resource):
    """A Klein app's resource with its busiest route taken first. A request for ``path`` (ending in "/": any path
    under it, as a Klein branch route; or a compiled bytes pattern the whole path matches, its groups passed to the
    handler after the request) with one of ``methods`` goes straight to ``handler(request)`` (the app's
    ``async`` route method), its failures to ``errors(request, failure)`` (the app's error handler), answered as
    Klein would answer them; every other request is Klein's. Klein's routing (werkzeug's URL match, the request
    adapter, two maybeDeferreds and their closures) cost a namenode 60 us of the 270 us a GETFILESTATUS took
    in-process."""

    isLeaf = True

    def __init__(self, routes, path, methods, handler, errors):
        super().__init__()
        self._routes = routes
        self._path = path
        self._pattern = None if isinstance(path, bytes) else path
        self._branch = self._pattern is None and path.endswith(b"/")
        self._methods = frozenset(methods)
        self._handler = handler
        self._errors = errors
        self._endpoint = handler.__name__

    def _takes(self, request):
        """The handler's arguments after the request when it takes this one, else None."""
        if request.method not in self._methods:
            return None
        if self._pattern is not None:
            match = self._pattern.fullmatch(request.path)
            return None if match is None else [part.decode() for part in match.groups()]
        taken = request.path.startswith(self._path) if self._branch else request.path == self._path
        return [] if taken else None

    def render(self, request):
        args = self._takes(request)
        if args is None:
            return self._routes.render(request)
        request.endpoint = self._endpoint
        ended = []  # the request ended before the handler answered: the client went away, or the handler finished it
        request.notifyFinish().addBoth(ended.append)
        answer = Deferred.fromCoroutine(self._handler(request, *args))
        request.notifyFinish().addErrback(lambda _: answer.cancel())  # as Klein: a client gone cancels the handler
        answer.addErrback(self._failed, request, ended)
        answer.addCallback(self._write, request, ended)
        answer.addErrback(lambda failure: log.failure("Unhandled error writing the answer to {uri}", failure,
                                                      uri=request.uri))
        return NOT_DONE_YET

    def _failed(self, failure, request, ended):
        if ended:  # nobody to answer
            if not failure.check(CancelledError):
                log.failure("Unhandled error in {method} {uri}", failure, method=request.method, uri=request.uri)
            return None
        return self._errors(request, failure)

    @staticmethod
    def _write(body, request, ended):
        if ended:
            return
        if body:
            request.write(body)
        request.finish()


class MeasuredRequest(Request):
    """A request that notes when its headers arrived and counts the body bytes that followed."""

    started = None
    received = 0
    webhdfs_op = None  # set by the handler that read it: logging it then needs no second route match
    endpoint = None  # set by a HotRoute, which took the request without Klein's match

    def gotLength(self, length):
        self.started = self.channel.site.reactor.seconds()
        super().gotLength(length)

    def handleContentChunk(self, data):
        self.received += len(data)
        super().handleContentChunk(data)

    def requestReceived(self, command, path, version):
        # "//x" names "/x", as in HDFS: slashes are collapsed before routing, which would answer with a redirect
        target, query = path.split(b"?", 1) if b"?" in path else (path, None)
        target = REPEATED_SLASHES.sub(b"/", target)
        super().requestReceived(command, target if query is None else target + b"?" + query, version)


class QuietSite(Site):
    """A Site that logs one line per request through twisted.logger and feeds the request metrics."""

    requestFactory = MeasuredRequest
    protocol = LimitedChannel  # enforces ``self.limits`` (dfs.limits.Limits), set by the role's tap

    def __init__(self, resource, metrics=None, **kwargs):
        super().__init__(resource, **kwargs)
        self.metrics = metrics

    def log(self, request):
        op = operation(request)
        duration = 0.0 if request.started is None else max(0.0, self.reactor.seconds() - request.started)
        if self.metrics is not None:
            self.metrics.observe_request(op, request.code, duration, request.received, request.sentLength)
        if op in UNLOGGED_OPS:
            return
        # The path, not the URI: query strings can carry delegation tokens.
        log.info(
            '{method} {path} {op} {code} in={bytes_in} out={bytes_out} {duration:.3f}s "{agent}"',
            method=request.method.decode("ascii", "replace"),
            path=request.path.decode("ascii", "replace")[:300],
            op=op,
            code=request.code,
            bytes_in=request.received,
            bytes_out=request.sentLength,
            duration=duration,
            agent=(request.getHeader(b"user-agent") or b"-").decode("ascii", "replace")[:60],
        )
