"""Security on real processes: the cluster secret, client tokens, signed redirects, hostile input, limits and TLS."""

import datetime
import http.client
import ipaddress
import os
import socket
import ssl
import subprocess
import sys
import time
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

import fsspec
import hdfs
import pytest
import pytest_twisted
import requests
from cluster import Cluster
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twisted.internet import reactor

from dfs.client import Client
from dfs.errors import AccessDenied, Unauthorized
from dfs.http import ca_policy, make_http
from dfs.limits import MAX_REQUEST_LINE
from dfs.paths import MAX_DEPTH
from dfs.security import Guard, mint_token, new_secret

OCTETS = {"Content-Type": "application/octet-stream"}


@pytest.fixture(scope="module")
def secret_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("secret") / "cluster.secret"
    path.write_text(new_secret() + "\n")
    return str(path)


@pytest.fixture(scope="module")
def secret(secret_file):
    with open(secret_file, "rb") as f:
        return f.read().strip()


# The token the fixtures' clusters are driven with acts for their operator: the namenode's superuser
# (--superuser), who passes every permission check, as the user the namenode runs as does on an open cluster.
OPERATOR = "alice"


@pytest.fixture(scope="module")
def token(secret):
    return mint_token(secret, OPERATOR, expires_in=3600)


@pytest.fixture(scope="module")
def read_only_token(secret):
    return mint_token(secret, "reader", read_only=True, expires_in=3600)


@pytest.fixture(scope="module")
def secure(tmp_path_factory, secret_file, token):
    """A cluster with a secret, a short header deadline and one upload per client address at a time."""
    with_secret = ["--secret-file", secret_file]
    c = Cluster(tmp_path_factory.mktemp("secure"), namenode_args=[
        *with_secret, "--superuser", OPERATOR, "--header-timeout", "2", "--uploads-per-client", "1", "--max-body", "1M",
    ], datanode_args=with_secret, token=token).start()
    yield c
    c.stop()
    tracebacks = [path for path, text in c.logs().items() if "Traceback" in text]
    assert not tracebacks, f"tracebacks in {tracebacks}"


def webhdfs(cluster, path, op, method="GET", token=None, body=None, redirects=False, **params):
    headers = dict(OCTETS)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return requests.request(method, f"{cluster.url}/webhdfs/v1{quote(path)}", params={"op": op, **params},
                            data=body, headers=headers, allow_redirects=redirects, timeout=30)


def raw_request(url, method, target, body=None, headers=None):
    """A request sent exactly as given (requests would remove '..' segments from the path)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request(method, target, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def files_under(root, skip=()):
    found = set()
    for directory, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if os.path.join(directory, d) not in skip]
        found.update(os.path.join(directory, f) for f in files)
    return found


def stored_files(root):
    """The files under a datanode's root but the scrubber's record of where its pass stands, which it writes on its
    own schedule (it appeared between two listings and failed the comparison)."""
    return {f for f in files_under(root) if not os.path.basename(f).startswith("scrubber.json")}


def data_roots(cluster):
    return {cluster.datanode_root(i) for i in range(len(cluster.datanodes))} | {os.path.join(cluster.root, "logs")}


def namespace_files(cluster):
    """Files of the cluster's directory outside the data roots and the namenode's database."""
    return {f for f in files_under(cluster.root, data_roots(cluster))
            if not os.path.basename(f).startswith("namenode.sqlite")}


# -- cluster members only ------------------------------------------------------------------------------------


def test_forged_datanode_calls_change_nothing(secure, token, secret):
    before = secure.status()
    node = before["nodes"][0]
    registration = {"id": "intruder", "url": "http://127.0.0.1:9", "public_url": "http://127.0.0.1:9",
                    "capacity": 1 << 40, "used": 0, "free": 1 << 40, "blocks": ["0" * 64]}
    wrong = Guard(b"another secret entirely, 32 bytes", audience="namenode")
    attempts = [
        ("POST", "/cluster/datanodes", registration, {}),
        ("POST", "/cluster/datanodes", registration, {"Authorization": f"Bearer {token}"}),
        ("POST", "/cluster/datanodes", registration,
         {k.decode(): v.decode() for k, v in wrong.node_headers(b"POST", b"/cluster/datanodes").items()}),
        ("PUT", f"/cluster/datanodes/{node['id']}/heartbeat", {"capacity": 1, "used": 1, "free": 0}, {}),
        ("PUT", f"/cluster/datanodes/{node['id']}/blocks", {"blocks": []}, {}),
        ("POST", f"/cluster/datanodes/{node['id']}/corrupt", {"blocks": ["a" * 64]}, {}),
    ]
    for method, path, body, headers in attempts:
        r = requests.request(method, secure.url + path, json=body, headers=headers, timeout=10)
        assert r.status_code in (401, 403), (path, headers, r.status_code, r.text)
        assert r.json()["RemoteException"]["exception"] in ("SecurityException", "AccessControlException")
    after = secure.status()
    assert [n["id"] for n in after["nodes"]] == [n["id"] for n in before["nodes"]]
    assert {n["id"]: n["capacity"] for n in after["nodes"]} == {n["id"]: n["capacity"] for n in before["nodes"]}
    assert after["totals"]["blocks"] == before["totals"]["blocks"]


def test_datanodes_serve_and_store_only_for_the_cluster(secure, token, secret):
    assert webhdfs(secure, "/members/f", "CREATE", "PUT", token, b"block bytes", data="true").status_code == 201
    block = requests.get(f"{secure.url}/webhdfs/v1/members/f", params={"op": "GETFILEBLOCKLOCATIONS"},
                         headers={"Authorization": f"Bearer {token}"}).json()["BlockLocations"]["BlockLocation"][0]
    url, block_id = block["urls"][0], block["blockId"]
    holder = next(i for i, d in enumerate(secure.datanodes) if d.url == url)
    files_before = stored_files(secure.datanode_root(holder))
    bearer = {"Authorization": f"Bearer {token}"}
    for method, path in [("DELETE", f"/blocks/{block_id}"), ("GET", "/blocks"), ("POST", "/blocks/format"),
                         ("POST", f"/blocks/{block_id}/fetch?source={url}"), ("GET", f"/blocks/{block_id}")]:
        assert requests.request(method, url + path, timeout=10).status_code == 401, (method, path)
        expected = 200 if path == f"/blocks/{block_id}" and method == "GET" else 403
        assert requests.request(method, url + path, headers=bearer, timeout=10).status_code == expected, path
    for headers in ({}, bearer):  # refused before a byte of the body is stored
        assert _headers_only(url, "PUT", "/blocks/upload", 100_000, headers).startswith(
            b"HTTP/1.1 401" if not headers else b"HTTP/1.1 403")
    assert stored_files(secure.datanode_root(holder)) == files_before
    signed = Guard(secret).node_headers(b"GET", f"/blocks/{block_id}".encode())
    r = requests.get(f"{url}/blocks/{block_id}", headers={k.decode(): v.decode() for k, v in signed.items()})
    assert r.status_code == 200 and r.content == b"block bytes"


def test_repair_copies_and_trims_with_node_signatures(secure, token):
    """Re-replication (namenode -> target -> peer) and trimming (namenode -> holder) are signed calls."""
    assert webhdfs(secure, "/repair/f", "CREATE", "PUT", token, os.urandom(5000), data="true",
                   replication=1).status_code == 201

    def holders():
        answer = webhdfs(secure, "/repair/f", "GETFILEBLOCKLOCATIONS", token=token).json()
        return len(answer["BlockLocations"]["BlockLocation"][0]["hosts"])

    for replication in (3, 1):
        assert webhdfs(secure, "/repair/f", "SETREPLICATION", "PUT", token, replication=replication).json()["boolean"]
        deadline = time.monotonic() + 20
        while holders() != replication and time.monotonic() < deadline:
            time.sleep(0.2)
        assert holders() == replication


# -- client tokens -------------------------------------------------------------------------------------------


def test_a_client_without_a_token_gets_401(secure):
    for method, op in [("GET", "LISTSTATUS"), ("GET", "OPEN"), ("PUT", "MKDIRS"), ("DELETE", "DELETE")]:
        r = webhdfs(secure, "/", op, method)
        assert r.status_code == 401 and "Bearer" in r.headers["WWW-Authenticate"]
        assert r.json()["RemoteException"]["exception"] == "SecurityException"
    assert requests.get(secure.url + "/cluster").status_code == 401
    assert requests.get(secure.url + "/cluster/safemode").status_code == 401
    assert requests.post(secure.url + "/cluster/safemode", params={"action": "enter"}).status_code == 401
    assert requests.get(secure.url + "/health").status_code == 200  # health checks need no token
    r = webhdfs(secure, "/", "LISTSTATUS", token="dfs1.not.valid")
    assert r.status_code == 401 and "signature" in r.json()["RemoteException"]["message"]


def test_an_upload_without_a_token_is_refused_before_its_body(secure):
    """The namenode answers 401 at once instead of storing the body first."""
    assert _headers_only(secure.url, "PUT", "/webhdfs/v1/big?op=CREATE&data=true", 10 ** 10).startswith(
        b"HTTP/1.1 401")


def _headers_only(url, method, target, length, headers=None):
    """Announce a body of ``length`` bytes, send none of it, and return the start of the answer."""
    parts = urlsplit(url)
    lines = [f"{method} {target} HTTP/1.1", "Host: x", f"Content-Length: {length}",
             "Content-Type: application/octet-stream", *(f"{k}: {v}" for k, v in (headers or {}).items())]
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        return s.recv(4096)


def test_read_only_tokens_read_but_never_write(secure, token, read_only_token):
    assert webhdfs(secure, "/ro/f", "CREATE", "PUT", token, b"readable", data="true").status_code == 201
    r = webhdfs(secure, "/ro/f", "OPEN", token=read_only_token, redirects=True)
    assert r.status_code == 200 and r.content == b"readable"
    assert webhdfs(secure, "/ro", "LISTSTATUS", token=read_only_token).status_code == 200
    for method, op, params in [("PUT", "MKDIRS", {}), ("DELETE", "DELETE", {"recursive": "true"}),
                               ("PUT", "RENAME", {"destination": "/ro/g"}), ("POST", "TRUNCATE", {"newlength": 0}),
                               ("PUT", "CREATE", {"data": "true"}), ("POST", "APPEND", {})]:
        r = webhdfs(secure, "/ro/f", op, method, read_only_token, **params)
        assert r.status_code == 403, (op, r.status_code, r.text)
        assert r.json()["RemoteException"]["exception"] == "AccessControlException"
    r = requests.post(secure.url + "/cluster/format", params={"confirm": "true"},
                      headers={"Authorization": f"Bearer {read_only_token}"})
    assert r.status_code == 403
    r = requests.post(secure.url + "/cluster/safemode", params={"action": "enter"},
                      headers={"Authorization": f"Bearer {read_only_token}"})
    assert r.status_code == 403
    assert webhdfs(secure, "/ro/f", "OPEN", token=token, redirects=True).content == b"readable"


def test_expired_and_foreign_tokens_are_refused(secure, secret):
    expired = mint_token(secret, "alice", expires_in=10, now=time.time() - 60)
    r = webhdfs(secure, "/", "LISTSTATUS", token=expired)
    assert r.status_code == 401 and "expired" in r.json()["RemoteException"]["message"]
    foreign = mint_token(b"a different cluster's secret value", "alice")
    assert webhdfs(secure, "/", "LISTSTATUS", token=foreign).status_code == 401


def test_the_token_decides_the_owner(secure, token):
    assert webhdfs(secure, "/owned", "MKDIRS", "PUT", token, **{"user.name": "root"}).status_code == 200
    status = webhdfs(secure, "/owned", "GETFILESTATUS", token=token).json()["FileStatus"]
    assert status["owner"] == "alice"


def test_permissions_judge_the_token_user(secure, token, secret):
    """bob's token reads nothing private of alice's, whatever user.name it sends; his denial is HDFS's."""
    created = webhdfs(secure, "/private/f", "CREATE", "PUT", token, b"mine", data="true", permission="600")
    assert created.status_code == 201, created.text
    bob = mint_token(secret, "bob", expires_in=3600)
    r = webhdfs(secure, "/private/f", "OPEN", token=bob, redirects=True, **{"user.name": OPERATOR})
    assert r.status_code == 403
    assert r.json()["RemoteException"]["message"] == (
        'Permission denied: user=bob, access=READ, inode="/private/f":alice:supergroup:-rw-------')
    cli = subprocess.run([sys.executable, "-m", "dfs.cli", "cat", "/private/f"], capture_output=True, timeout=60,
                         env=dict(os.environ, DFS_NAMENODE_URL=secure.url, DFS_TOKEN=bob, DFS_CONFIG="/nonexistent"))
    assert (cli.returncode, cli.stdout, cli.stderr.decode()) == (1, b"", (
        'dfs: cat: /private/f: Permission denied: user=bob, access=READ, inode="/private/f":alice:supergroup:-rw-------\n'))


# -- signed redirects ----------------------------------------------------------------------------------------


def _with_query(url, **changes):
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    for name, value in changes.items():
        if value is None:
            query.pop(name, None)
        else:
            query[name] = value
    return urlunsplit(parts._replace(query=urlencode(query)))


def test_redirect_signatures_bind_the_request_and_expire(secure, token, secret):
    data = os.urandom(10_000)
    assert webhdfs(secure, "/signed/f", "CREATE", "PUT", token, data, data="true").status_code == 201
    r = webhdfs(secure, "/signed/f", "OPEN", token=token, offset=100, length=50)
    assert r.status_code == 307
    location = r.headers["Location"]
    assert "delegation" not in location and token not in location  # the token never travels to datanodes
    assert requests.get(location).content == data[100:150]
    signature = dict(parse_qsl(urlsplit(location).query))["dfs.signature"]
    other = next(d for d in secure.datanodes if not location.startswith(d.url))
    # A reader moves within the file version the URL grants, as Hadoop's client does on seek().
    assert requests.get(_with_query(location, offset="0")).content == data[:50]
    assert requests.get(_with_query(location, length="10000")).content == data[100:]
    tampered = [
        _with_query(location, **{"dfs.expires": str(int(time.time()) + 3600)}),
        _with_query(location, **{"dfs.signature": signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")}),
        _with_query(location, **{"dfs.signature": None}),
        _with_query(location, **{"dfs.signature": None, "dfs.expires": None}),
        location.replace("/signed/f", "/signed/g"),
        other.url + location[len(urlsplit(location).scheme) + 3 + len(urlsplit(location).netloc):],
    ]
    for url in tampered:
        r = requests.get(url)
        assert r.status_code == 401, (url, r.status_code, r.content[:200])
        assert r.content != data[100:150]
    r = requests.get(_with_query(location, **{"dfs.signature": None}), headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403  # a datanode serves WebHDFS reads to signed URLs only, not to token holders
    # A correctly signed URL whose time is up (signed here, with the cluster's secret, an hour ago).
    node_id = next(n["id"] for n in secure.status()["nodes"] if location.startswith(n["public_url"]))
    old = Guard(secret, _Past(3600))
    query = {"op": "OPEN", "offset": "100", "length": "50", "user.name": "alice"}
    query.update(old.sign_url(b"GET", "/webhdfs/v1/signed/f", query, node_id))
    r = requests.get(location.split("?")[0] + "?" + urlencode(query))
    assert r.status_code == 401 and "expired" in r.json()["RemoteException"]["message"]
    r = webhdfs(secure, "/signed/f", "GETFILECHECKSUM", token=token, algorithm="SHA-256")
    assert requests.get(r.headers["Location"]).json()["FileChecksum"]["length"] == 32
    # Hadoop's form is gathered by the namenode from the datanodes, over the authenticated node link.
    assert webhdfs(secure, "/signed/f", "GETFILECHECKSUM", token=token).json()["FileChecksum"]["length"] == 28
    assert requests.get(_with_query(r.headers["Location"], op="OPEN")).status_code == 401


def test_every_signed_parameter_of_every_signed_url_is_bound(secure, token):
    data, other = os.urandom(5000), os.urandom(5000)
    assert webhdfs(secure, "/granted/f", "CREATE", "PUT", token, data, data="true", blocksize="1024").status_code == 201
    assert webhdfs(secure, "/granted/g", "CREATE", "PUT", token, other, data="true").status_code == 201
    others_blocks = dict(parse_qsl(urlsplit(webhdfs(secure, "/granted/g", "OPEN", token=token)
                                            .headers["Location"]).query))["blocks"]
    kinds = {  # each signed URL kind: its redirect, and what a good request to it answers
        "OPEN": (webhdfs(secure, "/granted/f", "OPEN", token=token, offset=10, length=3000), "GET", None),
        "GETFILECHECKSUM": (webhdfs(secure, "/granted/f", "GETFILECHECKSUM", token=token, algorithm="SHA-256"), "GET",
                            None),
        "CREATE": (webhdfs(secure, "/granted/h", "CREATE", "PUT", token, overwrite="true"), "PUT", b"new"),
        "APPEND": (webhdfs(secure, "/granted/h", "APPEND", "POST", token), "POST", b"more"),
    }
    for kind, (redirect, method, body) in kinds.items():
        assert redirect.status_code == 307, (kind, redirect.text)
        location = redirect.headers["Location"]
        query = dict(parse_qsl(urlsplit(location).query))
        signed = query["dfs.signed"].split(",")
        assert "user.name" in signed and "op" in signed
        assert kind not in ("OPEN", "GETFILECHECKSUM") or "blocks" in signed
        changes = [{name: query[name] + "x"} for name in signed] + [{name: None} for name in signed]
        changes += [{"dfs.signed": ",".join(signed[1:])}, {"dfs.signed": ",".join([*signed, "version"])},
                    {"dfs.expires": str(int(query["dfs.expires"]) + 1)}]
        if "blocks" in signed:
            changes.append({"blocks": others_blocks})
        for change in changes:
            r = requests.request(method, _with_query(location, **change), data=body, headers=OCTETS, timeout=30)
            assert r.status_code in (401, 403), (kind, change, r.status_code, r.content[:200])
        # Added parameters that were not signed never reach the handler.
        added = _with_query(location, version="0" * 32, blocks=others_blocks) if "blocks" not in query else \
            _with_query(location, version="0" * 32)
        r = requests.request(method, added, data=body, headers=OCTETS, timeout=30)
        assert r.status_code in (200, 201), (kind, r.status_code, r.content[:200])
        if kind == "OPEN":
            assert r.content == data[10:3010]
            for offset, length in ((0, None), (1023, 2), (4000, 5000), (4999, 1), (5000, 1)):
                moved = _with_query(location, offset=str(offset), length=None if length is None else str(length))
                r = requests.get(moved, timeout=30)
                end = None if length is None else offset + length
                assert r.status_code == 200 and r.content == data[offset:end], (offset, length)


class _Past:
    def __init__(self, ago):
        self.ago = ago

    def seconds(self):
        return time.time() - self.ago


# -- real WebHDFS clients ------------------------------------------------------------------------------------


def test_hdfscli_token_client(secure, token, read_only_token):
    client = hdfs.TokenClient(secure.url, token)
    data = os.urandom(150_000)
    client.makedirs("/hc")
    client.write("/hc/f", data)
    with client.read("/hc/f", offset=1000, length=5000) as reader:
        assert reader.read() == data[1000:6000]
    client.write("/hc/f", b"+", append=True)
    assert client.status("/hc/f")["length"] == len(data) + 1
    assert client.checksum("/hc/f")["length"] == 28  # Hadoop's form, gathered over the node link
    reader = hdfs.TokenClient(secure.url, read_only_token)
    assert reader.list("/hc") == ["f"]
    with pytest.raises(hdfs.HdfsError, match="read-only"):
        reader.write("/hc/g", b"nope")
    with pytest.raises(hdfs.HdfsError, match="Authentication failure|authentication"):
        hdfs.InsecureClient(secure.url, user="mallory").list("/hc")


def test_fsspec_token(secure, token):
    address = urlsplit(secure.url)
    fs = fsspec.filesystem("webhdfs", host=address.hostname, port=address.port, token=token, skip_instance_cache=True)
    data = os.urandom(200_000)
    fs.mkdir("/fs")
    with fs.open("/fs/f", "wb") as f:
        f.write(data)
    assert fs.cat("/fs/f") == data
    with fs.open("/fs/f", "rb") as f:
        f.seek(12_345)
        assert f.read(100) == data[12_345:12_445]
    anonymous = fsspec.filesystem("webhdfs", host=address.hostname, port=address.port, skip_instance_cache=True)
    with pytest.raises(Exception):
        anonymous.ls("/fs")


@pytest_twisted.ensureDeferred
async def test_dfs_client_with_and_without_a_token(secure, token, read_only_token):
    http, pool = make_http(reactor)
    try:
        client = Client(http, secure.url, token=token, reactor=reactor)
        data = os.urandom(300_000)
        await client.write("/py/f", data)
        assert (await client.read("/py/f")) == data  # blocks straight from datanodes, with the token
        assert (await client.status())["nodes"]
        with pytest.raises(Unauthorized):
            await Client(http, secure.url, reactor=reactor).ls("/py")
        reader = Client(http, secure.url, token=read_only_token, reactor=reactor)
        assert (await reader.read("/py/f", 10, 20)) == data[10:30]
        with pytest.raises(AccessDenied):
            await reader.rm("/py/f")
    finally:
        await pool.closeCachedConnections()


# -- hostile input -------------------------------------------------------------------------------------------


TRAVERSALS = ["/../etc/passwd", "/a/../../etc", "/%2e%2e/x", "/a/%2E%2E/%2e%2e/x", "/a/./b", "/a%00b", "/a%0ab",
              "/..%2f..%2fetc", "relative/../x"]


def test_path_traversal_in_every_path_parameter(secure, token):
    auth = {"Authorization": f"Bearer {token}"}
    assert webhdfs(secure, "/tv/src", "CREATE", "PUT", token, b"s", data="true").status_code == 201
    before = namespace_files(secure)
    for bad in TRAVERSALS:
        encoded = quote(bad, safe="/%")
        target = "/webhdfs/v1" + (encoded if encoded.startswith("/") else "/" + encoded)
        for method, query in [("GET", "op=GETFILESTATUS"), ("PUT", "op=MKDIRS"), ("GET", "op=OPEN"),
                              ("PUT", "op=CREATE&data=true"), ("DELETE", "op=DELETE")]:
            status, body = raw_request(secure.url, method, f"{target}?{query}", b"", auth)
            assert status in (400, 404), (method, target, status, body)
        for method, op, name in [("PUT", "RENAME", "destination"), ("PUT", "COPY", "destination"),
                                 ("POST", "CONCAT", "sources")]:
            query = urlencode({"op": op, name: unquote(bad)})
            status, body = raw_request(secure.url, method, f"/webhdfs/v1/tv/src?{query}", None, auth)
            assert status == 400, (op, bad, status, body)
        status, body = raw_request(secure.url, "GET", "/cluster/fsck?" + urlencode({"path": unquote(bad)}), None,
                                   auth)
        assert status == 400, (bad, status, body)
    listing = webhdfs(secure, "/", "LISTSTATUS", token=token).json()["FileStatuses"]["FileStatus"]
    assert not {"etc", "x", "..", "."} & {e["pathSuffix"] for e in listing}
    assert webhdfs(secure, "/tv/src", "OPEN", token=token, redirects=True).content == b"s"
    assert namespace_files(secure) == before


def test_limits_are_answered_with_their_status(secure, token):
    auth = {"Authorization": f"Bearer {token}"}
    long_line = "/webhdfs/v1/" + "a" * MAX_REQUEST_LINE + "?op=LISTSTATUS"
    assert raw_request(secure.url, "GET", long_line, None, auth)[0] == 414
    many = "&".join(f"p{i}=1" for i in range(200))
    assert raw_request(secure.url, "GET", f"/webhdfs/v1/?op=LISTSTATUS&{many}", None, auth)[0] == 414
    assert raw_request(secure.url, "GET", "/webhdfs/v1/?op=LISTSTATUS", None,
                       dict(auth, **{"X-Padding": "p" * 20_000}))[0] == 431
    assert raw_request(secure.url, "GET", "/webhdfs/v1/?op=LISTSTATUS", None,
                       dict(auth, **{f"X-H{i}": "v" for i in range(150)}))[0] == 431
    assert _headers_only(secure.url, "PUT", "/webhdfs/v1/x?op=MKDIRS", 2 << 20, auth).startswith(b"HTTP/1.1 413")
    assert webhdfs(secure, "/d" * (MAX_DEPTH + 1), "MKDIRS", "PUT", token).status_code == 400


def test_uploads_per_client_are_capped(secure, token):
    head = (f"PUT /webhdfs/v1/cap/{{name}}?op=CREATE&data=true HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: application/octet-stream\r\n\r\n")
    with socket.create_connection(("127.0.0.1", secure.namenode.port), timeout=10) as first:
        first.sendall(head.format(name="one").encode() + b"12345")  # half a body: the upload is in progress
        time.sleep(0.3)
        with socket.create_connection(("127.0.0.1", secure.namenode.port), timeout=10) as second:
            second.sendall(head.format(name="two").encode())
            assert second.recv(4096).startswith(b"HTTP/1.1 429")
        first.sendall(b"67890")
        assert first.recv(4096).startswith(b"HTTP/1.1 201")
    assert webhdfs(secure, "/cap/three", "CREATE", "PUT", token, b"0123456789", data="true").status_code == 201


def test_slowloris_is_cut_off(secure):
    """Headers sent a byte at a time never complete: the namenode answers 408 and closes after its deadline."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", secure.namenode.port), timeout=10) as s:
        answer = b""
        for byte in b"GET /webhdfs/v1/?op=LISTSTATUS HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"s" * 100:
            try:
                s.sendall(bytes([byte]))
            except OSError:
                break
            s.setblocking(False)
            try:
                answer += s.recv(4096)
            except BlockingIOError:
                pass
            finally:
                s.setblocking(True)
            if answer or time.monotonic() - started > 8:
                break
            time.sleep(0.1)
        s.settimeout(5)
        try:
            while chunk := s.recv(4096):
                answer += chunk
        except OSError:
            pass
    elapsed = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert 1.5 < elapsed < 6


# -- fuzzing the HTTP API ------------------------------------------------------------------------------------


OPS = ["GETFILESTATUS", "LISTSTATUS", "GETCONTENTSUMMARY", "GETFILECHECKSUM", "GETHOMEDIRECTORY",
       "GETFILEBLOCKLOCATIONS", "OPEN", "CREATE", "MKDIRS", "RENAME", "SETTIMES", "SETPERMISSION", "SETOWNER",
       "SETREPLICATION", "COPY", "APPEND", "TRUNCATE", "CONCAT", "DELETE", "open", "NOSUCHOP", ""]
SEGMENTS = ["a", "b", "fz", "..", ".", "%2e%2e", "%00", "%0a", "%C3%A9", "e%CC%81", "a%2Fb", "", "%", "%zz",
            "x" * 300, "%5C..%5C", "~", "%252e%252e", "%FF"]
PARAMS = ["op", "offset", "length", "overwrite", "recursive", "destination", "sources", "permission", "owner",
          "group", "replication", "blocksize", "newlength", "modificationtime", "accesstime", "renameoptions",
          "noredirect", "user.name", "data", "createparent", "delegation", "dfs.signature", "dfs.expires",
          "confirm", "path", "source", "doas", "buffersize"]

raw_paths = st.lists(st.sampled_from(SEGMENTS), max_size=6).map(lambda parts: "/" + "/".join(parts))
values = st.one_of(
    st.sampled_from(["true", "false", "True", "", "-1", "0", "1", "777", "1777", "99999999999999999999999"]),
    st.integers(-(2 ** 64), 2 ** 64).map(str),
    raw_paths,
    st.text(max_size=30).map(lambda t: quote(t, safe="")),
)


@st.composite
def requests_to_send(draw):
    target = draw(st.sampled_from(["webhdfs"] * 6 + ["cluster", "datanode-webhdfs", "datanode-blocks"]))
    method = draw(st.sampled_from(["GET", "PUT", "POST", "DELETE", "HEAD", "PATCH", "OPTIONS"]))
    params = draw(st.lists(st.tuples(st.sampled_from(PARAMS), values), max_size=6))
    op = draw(st.sampled_from(OPS))
    if target == "webhdfs":
        path = "/webhdfs/v1" + draw(raw_paths)
        params = [("op", op), *params]
    elif target == "cluster":
        path = draw(st.sampled_from(["/cluster", "/cluster/fsck", "/cluster/format", "/cluster/safemode",
                                     "/cluster/datanodes", "/cluster/datanodes/x/heartbeat",
                                     "/cluster/datanodes/x/blocks", "/", "/health", "/metrics", "/nope",
                                     "/static/../../etc/passwd"]))
    elif target == "datanode-webhdfs":
        path = "/webhdfs/v1" + draw(raw_paths)
        params = [("op", op), *params]
    else:
        path = draw(st.sampled_from(["/blocks", "/blocks/upload", "/blocks/format", "/blocks/" + "a" * 64,
                                     "/blocks/" + "A" * 64, "/blocks/../node.json", "/blocks/%2e%2e/node.json",
                                     "/status", "/blocks/" + "a" * 64 + "/fetch"]))
    query = "&".join(f"{quote(name)}={value}" for name, value in params)
    body = draw(st.one_of(st.none(), st.binary(max_size=300), st.sampled_from([b"{}", b"[]", b"{\"blocks\": 5}"])))
    auth = draw(st.sampled_from(["none", "token", "token", "token", "read-only", "garbage", "node"]))
    return target, method, path + ("?" + query if query else ""), body, auth


def test_fuzz_the_http_api(make_cluster, secret_file, secret, tmp_path):
    """Random methods, ops, parameters and paths: never a 5xx but the designed 502 (a copy's unreachable source),
    503 and 507, never a traceback, never a file outside the data roots."""
    token = mint_token(secret, "fuzzer", expires_in=3600)
    tokens = {"none": None, "token": token, "read-only": mint_token(secret, "r", True, 3600), "garbage": "dfs1.x.y"}
    member = Guard(secret)
    c = make_cluster(datanodes=2, namenode_args=["--secret-file", secret_file, "--replication", "2", "--superuser",
                                                 "fuzzer"],
                     datanode_args=["--secret-file", secret_file], token=token)
    assert webhdfs(c, "/fz/a", "CREATE", "PUT", token, b"seed", data="true").status_code == 201
    outside_before = namespace_files(c)
    cwd_before = set(os.listdir("."))
    deadline = time.monotonic() + 30

    @settings(max_examples=1000, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(requests_to_send())
    def one(request):
        if time.monotonic() > deadline:
            return
        target, method, path, body, auth = request
        base = c.datanodes[0].url if target.startswith("datanode") else c.url
        headers = {"Content-Type": "application/octet-stream"}
        if auth == "node":  # a cluster member's request: reaches the internal endpoints' handlers
            headers.update((k.decode(), v.decode()) for k, v in member.node_headers(method, path).items())
        elif tokens[auth]:
            headers["Authorization"] = f"Bearer {tokens[auth]}"
        status, answer = raw_request(base, method, path, body, headers)
        assert status < 500 or status in (502, 503, 507), (method, path, status, answer[:500])
        assert b"Traceback" not in answer and b'File "' not in answer, answer[:500]

    one()
    c.wait_for(lambda s: s is not None)  # still answering
    assert namespace_files(c) == outside_before
    assert set(os.listdir(".")) - cwd_before <= {".hypothesis"}
    logs = c.logs()
    assert not [path for path, text in logs.items() if "Traceback" in text], "tracebacks in the logs"


# -- TLS -----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    """A self-signed CA and a certificate it signed for 127.0.0.1 and localhost, as PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    directory = tmp_path_factory.mktemp("tls")
    now = datetime.datetime.now(datetime.timezone.utc)

    def certificate(subject, issuer, key, signer, extensions):
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
                   .not_valid_after(now + datetime.timedelta(days=1)))
        for extension, critical in extensions:
            builder = builder.add_extension(extension, critical)
        return builder.sign(signer, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dfs test CA")])
    ca = certificate(ca_name, ca_name, ca_key, ca_key, [
        (x509.BasicConstraints(ca=True, path_length=None), True),
        (x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                       key_encipherment=False, data_encipherment=False, key_agreement=False, encipher_only=False,
                       decipher_only=False), True),
    ])
    server = certificate(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]), ca_name, key, ca_key, [
        (x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                      x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False),
        (x509.BasicConstraints(ca=False, path_length=None), True),
    ])
    files = {"ca": directory / "ca.pem", "cert": directory / "server.pem", "key": directory / "server.key"}
    files["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files["cert"].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    files["key"].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    return {name: str(path) for name, path in files.items()}


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory, certificates, secret_file, token):
    listen = f"ssl:0:interface=127.0.0.1:privateKey={certificates['key']}:certKey={certificates['cert']}"
    both = ["--listen", listen, "--ca-file", certificates["ca"], "--secret-file", secret_file]
    c = Cluster(tmp_path_factory.mktemp("tls"), datanodes=2,
                namenode_args=[*both, "--replication", "2", "--superuser", OPERATOR],
                datanode_args=both, token=token, ca_file=certificates["ca"]).start()
    yield c
    c.stop()
    assert not [path for path, text in c.logs().items() if "Traceback" in text]


@pytest_twisted.ensureDeferred
async def test_tls_with_the_ca_file(tls_cluster, certificates, token):
    assert tls_cluster.url.startswith("https://")
    assert all(n["url"].startswith("https://") for n in tls_cluster.status()["nodes"])
    http, pool = make_http(reactor, context_factory=ca_policy(certificates["ca"]))
    try:
        client = Client(http, tls_cluster.url, token=token, reactor=reactor)
        data = os.urandom(200_000)
        await client.write("/tls/f", data)
        assert (await client.read("/tls/f")) == data
        assert (await client.checksum("/tls/f"))["length"] == 32
    finally:
        await pool.closeCachedConnections()
    r = requests.get(tls_cluster.url + "/webhdfs/v1/tls/f", params={"op": "OPEN", "delegation": token},
                     verify=certificates["ca"])
    assert r.status_code == 200 and r.content == data


@pytest_twisted.ensureDeferred
async def test_tls_without_the_ca_file_fails_verification(tls_cluster, token):
    http, pool = make_http(reactor)
    try:
        with pytest.raises(Exception) as failure:
            await Client(http, tls_cluster.url, token=token, reactor=reactor).ls("/")
        assert "certificate" in repr(failure.value).lower() or "verif" in repr(failure.value).lower()
    finally:
        await pool.closeCachedConnections()
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(tls_cluster.url + "/health")
    context = ssl.create_default_context()
    with pytest.raises(ssl.SSLCertVerificationError):
        with socket.create_connection(("127.0.0.1", tls_cluster.namenode.port), timeout=5) as raw:
            context.wrap_socket(raw, server_hostname="127.0.0.1")


def test_blocking_client_takes_a_ca_file(tls_cluster, certificates, token):
    """The CLI and the mount use BlockingClient: run it in its own process (it starts its own reactor)."""
    code = ("import sys; from dfs.client import BlockingClient; "
            f"c = BlockingClient({tls_cluster.url!r}, {token!r}, ca_file={certificates['ca']!r}); "
            "c.write('/tls/blocking', b'over tls'); sys.stdout.buffer.write(c.read('/tls/blocking'))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert result.stdout == b"over tls", result.stderr.decode()[-2000:]
    env = dict(os.environ, DFS_CA_FILE=certificates["ca"], DFS_TOKEN=token)
    code = ("import sys; from dfs.client import BlockingClient; "
            f"sys.stdout.buffer.write(BlockingClient({tls_cluster.url!r}).read('/tls/blocking'))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60, env=env)
    assert result.stdout == b"over tls", result.stderr.decode()[-2000:]


def test_a_node_with_a_bad_secret_cannot_join(tmp_path, secret_file, token):
    """A datanode with the wrong secret is refused and says why in its log; the cluster does not list it."""
    c = Cluster(tmp_path / "c", datanodes=1, namenode_args=["--secret-file", secret_file],
                datanode_args=["--secret-file", secret_file], token=token).start()
    try:
        wrong = tmp_path / "wrong.secret"
        wrong.write_text(new_secret())
        intruder = c.add_datanode(["--secret-file", str(wrong)])
        time.sleep(2)
        assert len(c.status()["nodes"]) == 1
        assert "node signature is invalid" in intruder.log()
        assert c.status()["totals"]["alive"] == 1
    finally:
        c.stop()


def test_starting_beyond_loopback_without_a_secret_is_refused(tmp_path):
    from dfs.devcluster import twistd_env
    from dfs.node import twistd_command
    result = subprocess.run(twistd_command("dfs-namenode", ["--listen", "tcp:0:interface=0.0.0.0", "--db",
                                                            str(tmp_path / "db.sqlite")]),
                            capture_output=True, timeout=60, env=twistd_env())
    # The reason alone, on one line: not after twistd's 58 lines of usage, where an operator would miss it.
    assert (result.returncode, result.stdout) == (1, b"")
    assert result.stderr.decode().startswith("dfs namenode: refusing to listen on 'tcp:0:interface=0.0.0.0' without"
                                             " a cluster secret")
    assert result.stderr.count(b"\n") == 1
    short = tmp_path / "short.secret"
    short.write_text("tiny")
    result = subprocess.run(twistd_command("dfs-datanode", ["--secret-file", str(short), "--root",
                                                            str(tmp_path / "dn")]),
                            capture_output=True, timeout=60, env=twistd_env())
    assert (result.returncode, result.stdout, result.stderr.count(b"\n")) == (1, b"", 1)
    assert result.stderr.startswith(b"dfs datanode: the secret in ") and b"at least 16" in result.stderr


def test_a_signed_create_url_cannot_be_widened_with_parameters_it_does_not_sign(secure, token):
    """The body of a CREATE streams in before its route runs; that early path read overwrite, permission and the
    rest from the raw query, so whoever held the redirect could add &overwrite=true and replace a file."""
    redirect = webhdfs(secure, "/forge/f", "CREATE", "PUT", token)
    assert redirect.status_code == 307, redirect.text
    assert webhdfs(secure, "/forge/f", "CREATE", "PUT", token, b"original", data="true").status_code == 201
    forged = requests.put(redirect.headers["Location"] + "&overwrite=true&permission=777", data=b"forged",
                          headers=dict(OCTETS), timeout=30)
    assert forged.status_code == 403, forged.text
    assert forged.json()["RemoteException"]["exception"] == "FileAlreadyExistsException"
    assert webhdfs(secure, "/forge/f", "OPEN", token=token, redirects=True).content == b"original"
