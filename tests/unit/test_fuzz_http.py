"""Malformed requests against the namenode's Klein app in memory: never a 500, never a traceback in a body, and the
app still answers afterwards. (tests/integration/test_security.py fuzzes real processes, fewer requests.)"""

import json

import pytest_twisted
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from treq.testing import StubTreq
from twisted.internet import defer
from twisted.internet.error import ConnectionRefusedError

from dfs.peers import DatanodeClient

BASE = "http://nn"
OPS = ["GETFILESTATUS", "LISTSTATUS", "GETCONTENTSUMMARY", "GETFILECHECKSUM", "GETHOMEDIRECTORY",
       "GETFILEBLOCKLOCATIONS", "OPEN", "CREATE", "MKDIRS", "RENAME", "SETTIMES", "SETPERMISSION", "SETOWNER",
       "SETREPLICATION", "COPY", "APPEND", "TRUNCATE", "CONCAT", "DELETE", "open", "NOSUCHOP", ""]
SEGMENTS = ["a", "b", "f", "..", ".", "", "%2e%2e", "%00", "%0a", "%C3%A9", "a%2Fb", "%", "%zz", "x" * 300, "%FF",
            "%252e", "~", "a b", "%20"]
PARAMS = ["op", "offset", "length", "overwrite", "recursive", "destination", "sources", "permission", "owner",
          "group", "replication", "blocksize", "newlength", "modificationtime", "accesstime", "renameoptions",
          "noredirect", "user.name", "data", "createparent", "path", "action", "cancel", "confirm", "buffersize", "for",
          "end"]
NUMBERS = st.one_of(st.integers(-(2 ** 70), 2 ** 70), st.sampled_from([2 ** 63 - 1, 2 ** 63, 2 ** 64, -(2 ** 63) - 1]))

raw_paths = st.lists(st.sampled_from(SEGMENTS), max_size=5).map(lambda parts: "/" + "/".join(parts))
values = st.one_of(
    st.sampled_from(["true", "false", "", "-1", "0", "1", "777", "1e3", "0x10", " 1", "nan", "enter", "leave"]),
    NUMBERS.map(str),
    raw_paths,
    st.text(max_size=20),
)
json_values = st.recursive(st.one_of(st.none(), st.booleans(), NUMBERS, st.text(max_size=10)),
                           lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                   st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                           max_leaves=10)
bodies = st.one_of(
    st.none(),
    st.binary(max_size=200),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({"id": st.text(max_size=12), "url": st.text(max_size=20), "capacity": NUMBERS,
                           "used": NUMBERS, "free": NUMBERS, "blocks": st.lists(st.text(max_size=70), max_size=3)},
                          optional={"cluster_id": st.text(max_size=5), "filesystem": json_values,
                                    "protocol": json_values, "protocol_oldest": json_values}
                          ).map(lambda v: json.dumps(v).encode()),
    st.integers(1, 100_000).map(lambda depth: b"[" * depth + b"]" * depth),
    st.integers(1, 100_000).map(lambda depth: b'{"a":' * depth + b"1" + b"}" * depth),
)
CLUSTER = ["/cluster", "/cluster/fsck", "/cluster/safemode", "/cluster/format", "/cluster/datanodes",
           "/cluster/datanodes/n1/heartbeat", "/cluster/datanodes/n1/blocks", "/cluster/datanodes/n1/corrupt",
           "/cluster/datanodes/n1/decommission", "/cluster/datanodes/ghost/decommission",
           "/cluster/datanodes/n1/maintenance", "/cluster/datanodes/ghost/maintenance", "/", "/health",
           "/metrics", "/static/namenode.js", "/static/../x", "//", "//webhdfs/v1/x", "/webhdfs/v1", "/nope"]


@st.composite
def requests_to_send(draw):
    method = draw(st.sampled_from(["GET", "PUT", "POST", "DELETE", "HEAD", "PATCH", "OPTIONS"]))
    params = draw(st.lists(st.tuples(st.sampled_from(PARAMS), values), max_size=6))
    if draw(st.integers(0, 3)):
        path = "/webhdfs/v1" + draw(raw_paths)
        params = [("op", draw(st.sampled_from(OPS))), *params]
    else:
        path = draw(st.sampled_from(CLUSTER))
    return method, path, params, draw(bodies)


class Unreachable:
    """The datanodes fuzzed registrations name: every request to one fails as a refused connection does."""

    def request(self, *args, **kwargs):
        return defer.fail(ConnectionRefusedError("fuzzed datanode"))


@pytest_twisted.ensureDeferred
async def test_no_malformed_request_gets_a_500(namenode_app):
    http = StubTreq(namenode_app.resource())
    namenode_app.fanout.datanodes = namenode_app.repair.datanodes = DatanodeClient(Unreachable())
    seen = []

    @settings(max_examples=3000, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(requests_to_send())
    def collect(request):
        seen.append(request)

    collect()  # hypothesis drives a plain function; the requests are then sent in the reactor
    for method, path, params, body in seen:
        namenode_app.safemode.on = namenode_app.safemode.held = False  # a fuzzed "enter" must not hide the rest
        response = await http.request(method, BASE + path, params=params, data=body, allow_redirects=False)
        answer = await response.content()
        what = (method, path, params, (body or b"")[:100], response.code, answer[:300])
        assert response.code < 500 or response.code == 503, what
        assert b"Traceback" not in answer and b'File "' not in answer, what
        if response.code in (301, 302, 303, 307, 308):
            assert response.headers.getRawHeaders("location"), what
    response = await http.get(BASE + "/webhdfs/v1/?op=LISTSTATUS")
    assert response.code == 200, "the app still answers"
