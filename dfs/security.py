"""The cluster secret and what it signs: client tokens, short-lived redirect URLs and node-to-node requests.

``python -m dfs.security token create --secret-file F [--read-only] [--expires 1h] [--user U]`` mints a token.
"""

import argparse
import base64
import binascii
import getpass
import hashlib
import hmac
import json
import os
import secrets
import sys
import time
from typing import NamedTuple
from urllib.parse import unquote

from dfs import paths
from dfs.errors import AccessDenied, BadRequest, DFSError, Unauthorized

MIN_SECRET_BYTES = 16
TOKEN_VERSION = "dfs1"
MAX_TOKEN_CHARS = 4096
NODE_HEADER = b"DFS-Node-Auth"
SIGNATURE, EXPIRES, SIGNED = "dfs.signature", "dfs.expires", "dfs.signed"
MAX_CLOCK_SKEW = 120.0
URL_TTL = 300.0
DEFAULT_TOKEN_LIFETIME = "30d"
READ_METHODS = (b"GET", b"HEAD")
# What a reader may move within the file version a read URL grants: clients seek by rewriting them (WEBHDFS.md §5).
RANGE_PARAMS = ("offset", "length")

# What a route accepts: the cluster's own processes, token holders, the bearer of a URL the namenode signed.
NODE, TOKEN, SIGNED_URL = "node", "token", "signed-url"


class SecretError(ValueError):
    pass


class Identity(NamedTuple):
    """Who sent a request: ``kind`` is NODE, TOKEN, SIGNED_URL, or "open" on a cluster without a secret.
    ``granted`` names the query parameters a signed URL's signature covers."""

    kind: str
    user: str | None = None
    read_only: bool = False
    granted: tuple = ()


OPEN = Identity("open")


class Token(NamedTuple):
    user: str
    read_only: bool
    expires: int | None


def restrict(identity, args, free=()):
    """Limit query ``args`` (twisted.web's form: bytes names, lists of values) to what ``identity`` may set, in
    place: a token's user replaces any ``user.name``; a signed URL keeps only the names its signature covers and
    the ``free`` ones. Every reader of a request's parameters goes through here, so none reads a forged one."""
    if identity.kind == TOKEN:
        for name in [n for n in args if n.lower() == b"user.name"]:
            del args[name]
        args[b"user.name"] = [identity.user.encode()]
    if identity.kind == SIGNED_URL:
        seen = {*identity.granted, *free}
        for name in [n for n in args if n.decode("utf-8", "replace").lower() not in seen]:
            del args[name]
    return args


def load_secret(path):
    """The cluster secret stored in ``path`` (surrounding whitespace ignored), or SecretError saying what is wrong."""
    try:
        with open(path, "rb") as f:
            secret = f.read().strip()
    except OSError as e:
        raise SecretError(f"cannot read the secret file {path}: {e.strerror}") from None
    if len(secret) < MIN_SECRET_BYTES:
        raise SecretError(f"the secret in {path} has {len(secret)} bytes; it needs at least {MIN_SECRET_BYTES}"
                          " random ones (e.g. `openssl rand -hex 32 > secret`)")
    return secret


def new_secret():
    return secrets.token_hex(32)


def duration_value(text):
    """'90s', '30m', '12h', '7d', '3600' -> seconds; 'never' -> None."""
    text = str(text).strip().lower()
    if text in ("never", "none"):
        return None
    scale = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
    try:
        seconds = float(text[:-1]) * scale[text[-1]] if text and text[-1] in scale else float(text)
    except ValueError:
        raise ValueError(f"not a duration: {text!r} (use e.g. 90s, 30m, 12h, 7d or never)") from None
    if seconds <= 0:
        raise ValueError(f"a duration must be positive: {text!r}")
    return seconds


class Keys:
    """One key per use, derived from the secret, so a signature made for one purpose never verifies for another."""

    def __init__(self, secret):
        if isinstance(secret, str):
            secret = secret.encode()
        self.token = _derive(secret, b"client token")
        self.url = _derive(secret, b"signed url")
        self.node = _derive(secret, b"node request")


def mint_token(secret, user, read_only=False, expires_in=None, now=None):
    """A token for ``user``, signed with the cluster secret; it expires ``expires_in`` seconds from now (None: never).

    Servers verify it without any state, so the only way to revoke tokens is to rotate the secret.
    """
    if not user or "/" in user:
        raise BadRequest(f"not a user name: {user!r}")
    paths.check_name(user)
    issued = int(time.time() if now is None else now)
    claims = {"u": user, "ro": bool(read_only), "iat": issued}
    if expires_in is not None:
        claims["exp"] = issued + max(1, int(expires_in))
    signed = f"{TOKEN_VERSION}.{_b64(_canonical(claims))}"
    return f"{signed}.{_b64(_mac(Keys(secret).token, signed.encode()))}"


def read_token(keys, token, now):
    """The claims of a token this cluster signed, or Unauthorized saying why it is refused."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS or token.count(".") != 2:
        raise Unauthorized("the token is malformed")
    version, payload, signature = token.split(".")
    if version != TOKEN_VERSION:
        raise Unauthorized("the token is not a dfs token")
    if not _same(signature, _b64(_mac(keys.token, f"{version}.{payload}".encode()))):
        raise Unauthorized("the token's signature is invalid (forged, altered, or signed with another secret)")
    try:
        claims = json.loads(_unb64(payload))
        user, read_only, expires = claims["u"], claims["ro"], claims.get("exp")
    except (ValueError, KeyError, TypeError):
        raise Unauthorized("the token is malformed") from None
    if not isinstance(user, str) or not isinstance(read_only, bool) or not isinstance(expires, (int, type(None))):
        raise Unauthorized("the token is malformed")
    if expires is not None and now >= expires:
        raise Unauthorized(f"the token expired at {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(expires))}")
    return Token(user, read_only, expires)


def url_signature(keys, method, path, params, names, audience, expires):
    """The signature of one redirect: method, decoded path, the parameters ``names`` with their values (absent
    ones as absent), the node it is for, and the expiry."""
    method = _read_method(method)
    fixed = [[name, params.get(name)] for name in names]
    return _b64(_mac(keys.url, _canonical(["url", method, audience, path, fixed, int(expires)])))


def signed_names(params, free):
    """The parameters a redirect signs: every one it carries but the ``free`` ones (a name with a comma cannot be
    listed in SIGNED, so it is left unsigned and therefore unseen by the handler)."""
    return sorted({name.lower() for name in params if "," not in name} - set(free))


def node_signature(keys, method, target, timestamp):
    """The signature of one request between cluster members: method, request target and when it was made."""
    return _b64(_mac(keys.node, _canonical(["node", _text(method), _text(target), int(timestamp)])))


class Guard:
    """Decides who may make a request. Without a secret the cluster is open and every check passes.

    ``audience`` names this process in signed URLs (a datanode's id, or "namenode"), so a URL signed for one
    node is refused by every other.
    """

    def __init__(self, secret=None, clock=None, audience="namenode", url_ttl=URL_TTL, skew=MAX_CLOCK_SKEW):
        self.keys = Keys(secret) if secret else None
        self.clock = clock
        self.audience = audience
        self.url_ttl = url_ttl
        self.skew = skew

    @property
    def enabled(self):
        return self.keys is not None

    def now(self):
        return self.clock.seconds() if self.clock is not None else time.time()

    # -- checking -----------------------------------------------------------------------------------

    def check(self, request, *accepted, free=()):
        """The route's edge check: an Identity, or Unauthorized (401) / AccessDenied (403) for the error handler.

        A token's user replaces any ``user.name`` parameter, so token holders cannot act as someone else. The
        handler of a signed URL sees only the parameters its signature covers and the ``free`` ones the route
        lets a client change (the signer leaves the same ones out): whatever else it reads cannot be forged.
        """
        try:
            identity = self.identify(request.method, request.uri, request.requestHeaders, accepted)
        except Unauthorized:
            request.setHeader(b"WWW-Authenticate", b'Bearer realm="dfs"')
            raise
        restrict(identity, request.args, free)
        return identity

    def admission(self, *accepted):
        """A check for requests about to send a body (dfs.limits.Limits.admit): it returns None when a credential of
        an ``accepted`` kind holds, else the error to answer.

        The HTTP channel asks it before it stores a single byte, so strangers cannot fill a disk with bodies that
        would be refused afterwards; the route still makes its own, exact check.
        """
        def admit(method, target, headers):
            try:
                self.identify(method, target, headers, accepted)
            except (Unauthorized, AccessDenied) as e:
                return e
            return None

        return admit

    def identify(self, method, target, headers, accepted):
        if self.keys is None:
            return OPEN
        from dfs.web import query_params  # here: `dfs token` loads this module and must not wait for klein

        path, _, query = target.partition(b"?")
        params = query_params(query)
        refusals = []
        for kind, verify in ((NODE, self._node), (TOKEN, self._token), (SIGNED_URL, self._signed_url)):
            try:
                identity = verify(method, target, path, params, headers)
            except (Unauthorized, AccessDenied) as e:
                refusals.append(e)
                continue
            if identity is None:
                continue
            if kind not in accepted:
                refusals.append(AccessDenied(_NOT_FOR[kind]))
            elif identity.read_only and method not in READ_METHODS:
                refusals.append(AccessDenied(f"a read-only token cannot {_text(method)} (only GET and HEAD)"))
            else:
                return identity
        denied = [e for e in refusals if isinstance(e, AccessDenied)]
        if denied:
            raise denied[0]
        if refusals:
            raise refusals[0]
        raise Unauthorized(_MISSING[next(k for k in (TOKEN, SIGNED_URL, NODE) if k in accepted)])

    def _node(self, method, target, path, params, headers):
        values = headers.getRawHeaders(NODE_HEADER)
        if not values:
            return None
        stamp, _, signature = values[0].decode("ascii", "replace").partition(":")
        if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 12):
            raise Unauthorized("the node signature is malformed")
        timestamp = int(stamp)
        if abs(self.now() - timestamp) > self.skew:
            raise Unauthorized(f"the node signature is {abs(self.now() - timestamp):.0f}s away from this node's"
                               f" clock (at most {self.skew:.0f}s allowed): check the clocks")
        if not _same(signature, node_signature(self.keys, method, target, timestamp)):
            raise Unauthorized("the node signature is invalid: is the cluster secret the same everywhere?")
        return Identity(NODE)

    def _token(self, method, target, path, params, headers):
        offered = [params["delegation"]] if params.get("delegation") else []
        for value in headers.getRawHeaders(b"Authorization") or ():
            scheme, _, credential = value.decode("latin-1").strip().partition(" ")
            if scheme.lower() == "bearer" and credential.strip():
                offered.append(credential.strip())
        if not offered:
            return None
        error = None
        for token in offered:
            try:
                claims = read_token(self.keys, token, self.now())
            except Unauthorized as e:
                error = error or e
                continue
            return Identity(TOKEN, claims.user, claims.read_only)
        raise error

    def _signed_url(self, method, target, path, params, headers):
        if SIGNATURE not in params:
            return None
        try:
            expires = int(params.get(EXPIRES, ""))
            decoded = unquote(path.decode("ascii"), errors="strict")
        except (ValueError, UnicodeDecodeError):
            raise Unauthorized("the signed URL is malformed") from None
        names = tuple(name for name in params.get(SIGNED, "").split(",") if name)
        expected = url_signature(self.keys, method, decoded, params, names, self.audience, expires)
        if not _same(params[SIGNATURE], expected):
            raise Unauthorized("the URL signature is invalid (altered, or signed for another node or request)")
        if self.now() >= expires:
            raise Unauthorized("the signed URL has expired: ask the namenode again")
        user = params.get("user.name") if "user.name" in names else None
        return Identity(SIGNED_URL, user or None, granted=names)

    # -- signing ------------------------------------------------------------------------------------

    def sign_url(self, method, path, params, audience, free=()):
        """Query parameters to add to a redirect so ``audience`` accepts it until it expires ({} when open). All
        of ``params`` is signed but the ``free`` ones, which the client may change."""
        if self.keys is None:
            return {}
        expires = int(self.now() + self.url_ttl)
        values = {name.lower(): str(value) for name, value in params.items()}
        names = signed_names(params, free)
        return {SIGNED: ",".join(names), EXPIRES: str(expires),
                SIGNATURE: url_signature(self.keys, method, path, values, names, audience, expires)}

    def node_headers(self, method, target):
        """Headers that authenticate an outgoing request to another cluster member ({} when open)."""
        if self.keys is None:
            return {}
        timestamp = int(self.now())
        return {NODE_HEADER: f"{timestamp}:{node_signature(self.keys, method, target, timestamp)}".encode("ascii")}


_NOT_FOR = {
    NODE: "this endpoint does not take node credentials",
    TOKEN: "this endpoint is for cluster members only: a client token cannot call it",
    SIGNED_URL: "a signed URL is valid only for the request it was made for",
}
_MISSING = {
    NODE: "this endpoint is for cluster members only: the request carries no node signature",
    TOKEN: "authentication required: send a token as 'Authorization: Bearer <token>' or 'delegation=<token>'"
           " (`dfs token create` makes one)",
    SIGNED_URL: "this URL needs the signature the namenode adds to its redirects",
}


def _derive(secret, purpose):
    return hmac.new(secret, b"dfs/" + purpose, hashlib.sha256).digest()


def _mac(key, message):
    return hmac.new(key, message, hashlib.sha256).digest()


def _same(given, expected):
    """Constant-time comparison of a signature from a request (any text) with the expected one."""
    return hmac.compare_digest(_text(given).encode("utf-8", "surrogateescape"), expected.encode("ascii"))


def _canonical(obj):
    return json.dumps(obj, separators=(",", ":"), sort_keys=True, ensure_ascii=True).encode()


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text):
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return b""


def _text(value):
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)


def _read_method(method):
    method = _text(method).upper()
    return "GET" if method == "HEAD" else method


# -- python -m dfs.security ---------------------------------------------------------------------------------


def main(argv=None, stdout=None):
    stdout = stdout or sys.stdout
    parser = argparse.ArgumentParser(prog="python -m dfs.security", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="what", required=True)
    token = commands.add_parser("token", help="client tokens").add_subparsers(dest="action", required=True)
    create = token.add_parser("create", help="mint a token signed with the cluster secret")
    add_token_arguments(create)
    secret = commands.add_parser("secret", help="cluster secrets").add_subparsers(dest="action", required=True)
    secret.add_parser("create", help="print 32 random bytes in hex, for a secret file")
    args = parser.parse_args(argv)
    try:
        if args.what == "secret":
            print(new_secret(), file=stdout)
        else:
            print(token_from_arguments(args), file=stdout)
    except (SecretError, ValueError, DFSError) as e:
        parser.exit(1, f"{parser.prog}: {getattr(e, 'message', e)}\n")
    return 0


def add_token_arguments(parser, user=True):
    """The options of `token create`, shared with `dfs token create` (whose commands all take ``--user``)."""
    parser.add_argument("--secret-file", default=None,
                        help="the cluster secret (default: $DFS_SECRET_FILE)")
    if user:
        parser.add_argument("--user", default=None, help="the user the token acts as (default: $USER)")
    parser.add_argument("--read-only", action="store_true", help="allow GET and HEAD requests only")
    parser.add_argument("--expires", default=DEFAULT_TOKEN_LIFETIME,
                        help=f"lifetime, e.g. 1h, 7d or never (default {DEFAULT_TOKEN_LIFETIME})")


def token_from_arguments(args):
    """Mint the token that `token create` arguments describe."""
    secret_file = args.secret_file or os.environ.get("DFS_SECRET_FILE")
    if not secret_file:
        raise SecretError("no secret: give --secret-file (or set DFS_SECRET_FILE)")
    return mint_token(load_secret(secret_file), getattr(args, "user", None) or getpass.getuser(), args.read_only,
                      duration_value(args.expires))


if __name__ == "__main__":
    sys.exit(main())
