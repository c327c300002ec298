"""Tokens, signed URLs and node signatures: round trips, tampering, expiry, and the Guard's decisions."""

import io
import time
from urllib.parse import quote, urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.task import Clock
from twisted.web.http import parse_qs
from twisted.web.http_headers import Headers

from dfs.errors import AccessDenied, BadRequest, Unauthorized
from dfs.http import SigningAgent
from dfs.security import (EXPIRES, RANGE_PARAMS, SIGNED, NODE, NODE_HEADER, OPEN, SIGNATURE, SIGNED_URL, TOKEN, Guard,
                          Keys, SecretError, duration_value, load_secret, main, mint_token, read_token)

SECRET = b"0123456789abcdef0123456789abcdef"
OTHER_SECRET = b"fedcba9876543210fedcba9876543210"
NOW = 1_700_000_000

users = st.text(st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="/"), min_size=1,
                max_size=40).filter(lambda u: u not in (".", ".."))
lifetimes = st.one_of(st.none(), st.integers(1, 10 * 365 * 86400))
param_values = st.text(max_size=20)
param_names = st.sampled_from(["op", "offset", "length", "data", "overwrite", "blocks", "version", "user.name"])
url_paths = st.text(st.characters(blacklist_categories=("Cs",)), max_size=60).map(lambda p: "/webhdfs/v1/" + p)


def guard(secret=SECRET, now=NOW, audience="namenode"):
    clock = Clock()
    clock.advance(now)
    return Guard(secret, clock, audience=audience)


def headers(**values):
    h = Headers()
    for name, value in values.items():
        h.setRawHeaders(name.replace("_", "-"), [value if isinstance(value, bytes) else value.encode()])
    return h


# -- tokens -------------------------------------------------------------------------------------------------


@given(users, st.booleans(), lifetimes)
def test_token_round_trip(user, read_only, lifetime):
    token = mint_token(SECRET, user, read_only, lifetime, now=NOW)
    claims = read_token(Keys(SECRET), token, NOW)
    assert (claims.user, claims.read_only) == (user, read_only)
    assert claims.expires == (None if lifetime is None else NOW + lifetime)
    assert all(c.isalnum() or c in "-_." for c in token)  # safe in a query string unquoted


@given(users, st.booleans(), st.data())
def test_any_altered_character_is_refused(user, read_only, data):
    token = mint_token(SECRET, user, read_only, 3600, now=NOW)
    i = data.draw(st.integers(0, len(token) - 1))
    replacement = data.draw(st.sampled_from("AbZ09-_.x").filter(lambda c: c != token[i]))
    with pytest.raises(Unauthorized):
        read_token(Keys(SECRET), token[:i] + replacement + token[i + 1:], NOW)


@given(st.text(max_size=200))
def test_garbage_is_refused_never_crashes(text):
    with pytest.raises(Unauthorized):
        read_token(Keys(SECRET), text, NOW)


def test_token_from_another_secret_or_expired_is_refused():
    with pytest.raises(Unauthorized, match="signature"):
        read_token(Keys(OTHER_SECRET), mint_token(SECRET, "alice", now=NOW), NOW)
    token = mint_token(SECRET, "alice", expires_in=60, now=NOW)
    assert read_token(Keys(SECRET), token, NOW + 59).user == "alice"
    with pytest.raises(Unauthorized, match="expired"):
        read_token(Keys(SECRET), token, NOW + 60)


def test_a_token_cannot_claim_a_bad_user_name():
    with pytest.raises(BadRequest):
        mint_token(SECRET, "a/b")
    with pytest.raises(BadRequest):
        mint_token(SECRET, "")


# -- signed URLs --------------------------------------------------------------------------------------------


@given(st.sampled_from([b"GET", b"PUT", b"POST"]), url_paths,
       st.dictionaries(param_names, param_values))
def test_signed_url_round_trip(method, path, params):
    g = guard()
    signed = dict(params, **g.sign_url(method, path, params, "node-1"))
    node = guard(audience="node-1")
    assert node._signed_url(method, b"", _raw(path), signed, Headers()).kind == SIGNED_URL


@given(url_paths, st.dictionaries(param_names, param_values), st.data())
def test_signed_url_tampering_is_refused(path, params, data):
    g, node = guard(), guard(audience="node-1")
    signed = dict(params, **g.sign_url(b"GET", path, params, "node-1"))
    change = data.draw(st.sampled_from(["param", "names", "path", "method", "audience", "expires", "signature"]))
    method, raw, verifier = b"GET", _raw(path), node
    if change == "param" and params:
        name = data.draw(st.sampled_from(sorted(params)))
        if data.draw(st.booleans()):
            del signed[name]
        else:
            signed[name] = data.draw(param_values.filter(lambda v: v != signed[name]))
    elif change in ("param", "names"):  # claim that an unsigned parameter was signed, or drop a signed one
        names = signed[SIGNED].split(",") if signed[SIGNED] else []
        signed[SIGNED] = ",".join(names[1:] if names and data.draw(st.booleans()) else [*names, "extra"])
    elif change == "path":
        raw = _raw(path + "x")
    elif change == "method":
        method = b"DELETE"
    elif change == "audience":
        verifier = guard(audience="node-2")
    elif change == "expires":
        signed[EXPIRES] = str(int(signed[EXPIRES]) + 1)
    else:
        signed[SIGNATURE] = signed[SIGNATURE][:-1] + ("A" if signed[SIGNATURE][-1] != "A" else "B")
    with pytest.raises(Unauthorized):
        verifier._signed_url(method, b"", raw, signed, Headers())


def test_signed_url_expires_and_ignores_inert_parameters():
    g = guard()
    signed = dict({"op": "OPEN", "offset": "0"}, **g.sign_url(b"GET", "/webhdfs/v1/f", {"op": "OPEN", "offset": "0"},
                                                               "namenode"))
    signed["buffersize"] = "4096"  # not acted on, so not signed: clients may add such parameters
    assert g._signed_url(b"HEAD", b"", b"/webhdfs/v1/f", signed, Headers()).kind == SIGNED_URL
    later = guard(now=NOW + g.url_ttl)
    with pytest.raises(Unauthorized, match="expired"):
        later._signed_url(b"GET", b"", b"/webhdfs/v1/f", signed, Headers())


class _Request:
    def __init__(self, method, uri):
        self.method, self.uri = method, uri
        self.requestHeaders = Headers()
        self.args = parse_qs(uri.partition(b"?")[2], keep_blank_values=True)

    def setHeader(self, name, value):
        pass


def test_a_signed_url_handler_sees_only_signed_and_free_parameters():
    g, node = guard(), guard(audience="node-1")
    query = {"op": "OPEN", "blocks": "b:0:1", "offset": "5", "user.name": "alice"}
    signed = dict(query, **g.sign_url(b"GET", "/webhdfs/v1/f", query, "node-1", free=RANGE_PARAMS))
    assert "offset" not in signed[SIGNED].split(",")
    moved = dict(signed, offset="9", length="3", version="forged", data="true")
    request = _Request(b"GET", b"/webhdfs/v1/f?" + urlencode(moved).encode())
    identity = node.check(request, SIGNED_URL, free=RANGE_PARAMS)
    assert identity.user == "alice"
    assert {k.decode(): v[0].decode() for k, v in request.args.items()} == {
        "op": "OPEN", "blocks": "b:0:1", "offset": "9", "length": "3", "user.name": "alice"}
    shadowed = b"/webhdfs/v1/f?BLOCKS=forged&" + urlencode(signed).encode()  # the first of a name wins
    with pytest.raises(Unauthorized):
        node.check(_Request(b"GET", shadowed), SIGNED_URL, free=RANGE_PARAMS)



def _raw(path):
    return quote(path).encode("ascii")


# -- node signatures ----------------------------------------------------------------------------------------


@given(st.sampled_from([b"GET", b"PUT", b"POST", b"DELETE"]), st.binary(min_size=1, max_size=80))
def test_node_signature_round_trip_and_binding(method, target):
    g = guard()
    target = b"/" + target.replace(b"?", b"")
    value = g.node_headers(method, target)[NODE_HEADER]
    assert g.identify(method, target, headers(DFS_Node_Auth=value), (NODE,)).kind == NODE
    for other_method, other_target in ((b"PATCH", target), (method, target + b"x")):
        with pytest.raises(Unauthorized):
            g.identify(other_method, other_target, headers(DFS_Node_Auth=value), (NODE,))
    with pytest.raises(Unauthorized):
        guard(OTHER_SECRET).identify(method, target, headers(DFS_Node_Auth=value), (NODE,))


@given(st.binary(max_size=60), st.text(max_size=40), st.text(max_size=40), st.text(max_size=40))
def test_malformed_credentials_are_refused_never_crash(node_header, delegation, signature, expires):
    query = "&".join(f"{n}={quote(v)}" for n, v in [("delegation", delegation), ("dfs.signature", signature),
                                                      ("dfs.expires", expires)] if v)
    target = f"/webhdfs/v1/f?op=OPEN&{query}".encode()
    h = headers(DFS_Node_Auth=node_header.replace(b"\r", b"").replace(b"\n", b""),
                Authorization=b"Bearer " + node_header.replace(b"\r", b"").replace(b"\n", b""))
    with pytest.raises((Unauthorized, AccessDenied)):
        guard().identify(b"GET", target, h, (NODE, TOKEN, SIGNED_URL))


def test_node_signature_outside_the_clock_skew_is_refused():
    value = guard().node_headers(b"PUT", b"/cluster/datanodes/x/heartbeat")[NODE_HEADER]
    assert guard(now=NOW + 100).identify(b"PUT", b"/cluster/datanodes/x/heartbeat",
                                          headers(DFS_Node_Auth=value), (NODE,)).kind == NODE
    with pytest.raises(Unauthorized, match="clock"):
        guard(now=NOW + 1000).identify(b"PUT", b"/cluster/datanodes/x/heartbeat", headers(DFS_Node_Auth=value),
                                       (NODE,))


def test_signing_agent_adds_the_node_header():
    sent = []

    class Recorder:
        def request(self, method, uri, headers=None, bodyProducer=None):
            sent.append((method, uri, headers))

    g = guard()
    SigningAgent(Recorder(), g.node_headers).request(b"GET", b"http://dn:8181/blocks/ab?x=1")
    method, uri, sent_headers = sent[0]
    assert g.identify(b"GET", b"/blocks/ab?x=1", sent_headers, (NODE,)).kind == NODE


# -- the Guard's decisions ----------------------------------------------------------------------------------


def test_without_a_secret_everything_is_open():
    assert Guard().identify(b"DELETE", b"/anything", Headers(), (NODE,)) == OPEN
    assert Guard().sign_url(b"GET", "/x", {}, "n") == {}
    assert Guard().node_headers(b"GET", b"/x") == {}


def test_what_each_credential_may_do():
    g = guard()
    full, read_only = mint_token(SECRET, "alice", expires_in=86400, now=NOW), mint_token(SECRET, "bob", True, now=NOW)
    bearer = headers(Authorization=f"Bearer {full}")
    assert g.identify(b"PUT", b"/webhdfs/v1/f?op=MKDIRS", bearer, (NODE, TOKEN)).user == "alice"
    assert g.identify(b"GET", f"/webhdfs/v1/f?op=OPEN&delegation={read_only}".encode(), Headers(),
                      (TOKEN,)).user == "bob"
    with pytest.raises(AccessDenied, match="read-only"):
        g.identify(b"DELETE", f"/webhdfs/v1/f?op=DELETE&delegation={read_only}".encode(), Headers(), (TOKEN,))
    with pytest.raises(AccessDenied, match="cluster members"):
        g.identify(b"POST", b"/cluster/datanodes", bearer, (NODE,))
    with pytest.raises(Unauthorized, match="no node signature"):
        g.identify(b"POST", b"/cluster/datanodes", Headers(), (NODE,))
    with pytest.raises(Unauthorized, match="token"):
        g.identify(b"GET", b"/webhdfs/v1/?op=LISTSTATUS", Headers(), (NODE, TOKEN, SIGNED_URL))
    with pytest.raises(Unauthorized, match="expired"):
        guard(now=NOW + 86400).identify(b"GET", b"/x", bearer, (TOKEN,))
    # One good credential is enough, even next to a bad one.
    both = headers(Authorization=f"Bearer {full}")
    assert g.identify(b"GET", b"/x?delegation=garbage", both, (TOKEN,)).user == "alice"


def test_the_token_user_replaces_user_name():
    class Request:
        method, uri = b"PUT", b"/webhdfs/v1/f?op=MKDIRS&User.Name=root"
        args = {b"op": [b"MKDIRS"], b"User.Name": [b"root"]}
        requestHeaders = headers(Authorization="Bearer " + mint_token(SECRET, "alice", now=NOW))

    request = Request()
    guard().check(request, TOKEN)
    assert request.args == {b"op": [b"MKDIRS"], b"user.name": [b"alice"]}


def test_admission_screens_bodies_before_they_arrive():
    g = guard()
    admit = g.admission(NODE, TOKEN, SIGNED_URL)
    assert isinstance(admit(b"PUT", b"/blocks/upload", Headers()), Unauthorized)
    node = g.node_headers(b"PUT", b"/blocks/upload")[NODE_HEADER]
    assert admit(b"PUT", b"/blocks/upload", headers(DFS_Node_Auth=node)) is None
    read_only = mint_token(SECRET, "bob", True, now=NOW)
    assert isinstance(admit(b"PUT", f"/webhdfs/v1/f?op=CREATE&delegation={read_only}".encode(), Headers()),
                      AccessDenied)
    full = headers(Authorization="Bearer " + mint_token(SECRET, "alice", now=NOW))
    assert admit(b"PUT", b"/webhdfs/v1/f?op=CREATE", full) is None
    assert isinstance(g.admission(NODE)(b"PUT", b"/blocks/upload", full), AccessDenied)


# -- secrets, durations and the command line ----------------------------------------------------------------


def test_load_secret(tmp_path):
    path = tmp_path / "secret"
    path.write_text("  " + "s" * 32 + "\n")
    assert load_secret(str(path)) == b"s" * 32
    path.write_text("short\n")
    with pytest.raises(SecretError, match="at least"):
        load_secret(str(path))
    with pytest.raises(SecretError, match="cannot read"):
        load_secret(str(tmp_path / "missing"))


def test_duration_value():
    assert duration_value("90s") == 90 and duration_value("2h") == 7200 and duration_value("7d") == 7 * 86400
    assert duration_value("600") == 600 and duration_value("never") is None
    for bad in ("", "soon", "-1h", "0"):
        with pytest.raises(ValueError):
            duration_value(bad)


@pytest.mark.parametrize("read_only", [False, True])
def test_token_create_command(tmp_path, read_only):
    secret_file = tmp_path / "secret"
    secret_file.write_bytes(SECRET)
    out = io.StringIO()
    argv = ["token", "create", "--secret-file", str(secret_file), "--user", "carol", "--expires", "1h"]
    main(argv + (["--read-only"] if read_only else []), stdout=out)
    claims = read_token(Keys(SECRET), out.getvalue().strip(), time.time())
    assert claims.user == "carol" and claims.read_only == read_only and claims.expires is not None
