"""A request through the shared HTTP client carries what dfs puts in it and nothing from layers no dfs peer uses
(issue 24: the mount waits for one namenode request per operation, so each layer's Python time is latency)."""

import json

import pytest_twisted
from twisted.internet import reactor
from twisted.web.resource import Resource
from twisted.web.server import Site

from dfs.http import USER_AGENT, make_http


class Recorder(Resource):
    """Notes each request and answers with JSON and a cookie (which no dfs server sets)."""

    isLeaf = True

    def __init__(self):
        super().__init__()
        self.seen = []

    def render(self, request):
        self.seen.append((request.method, request.uri, request.requestHeaders, request.content.read()))
        request.addCookie(b"session", b"s1")
        request.setHeader(b"Content-Type", b"application/json")
        return json.dumps({"boolean": True}).encode()


async def _served(requests):
    """The Recorder's notes of ``requests(http, base_url)``, sent by make_http's client to a real socket."""
    recorder = Recorder()
    port = reactor.listenTCP(0, Site(recorder), interface="127.0.0.1")
    http, pool = make_http(reactor)
    try:
        await requests(http, f"http://127.0.0.1:{port.getHost().port}")
    finally:
        await pool.closeCachedConnections()
        await port.stopListening()
    return recorder.seen


@pytest_twisted.ensureDeferred
async def test_a_namenode_request_carries_no_cookie_and_asks_for_no_compression():
    async def delete_twice(http, base):
        for _ in range(2):  # the second after the server set a cookie
            response = await http.request("DELETE", base + "/webhdfs/v1/a%20b", allow_redirects=False,
                                          params={"op": "DELETE", "doas.groups": "g1,g2", "x": "a b+c/é"},
                                          headers={"Authorization": "Bearer t"})
            assert await response.json() == {"boolean": True}

    seen = await _served(delete_twice)
    assert len(seen) == 2
    for method, uri, headers, body in seen:
        # The query encoded as treq encodes it (quote_plus).
        assert (method, uri, body) == (b"DELETE", b"/webhdfs/v1/a%20b?op=DELETE&doas.groups=g1%2Cg2&x=a+b%2Bc%2F%C3%A9", b"")
        assert headers.getRawHeaders(b"Authorization") == [b"Bearer t"]
        assert headers.getRawHeaders(b"User-Agent") == [USER_AGENT.encode()]
        assert not headers.hasHeader(b"Cookie")
        assert not headers.hasHeader(b"Accept-Encoding")  # treq's ContentDecoderAgent asks for gzip


@pytest_twisted.ensureDeferred
async def test_a_request_with_a_json_body_or_a_body_of_bytes_is_sent_whole():
    async def post_both(http, base):
        await (await http.request("POST", base + "/cluster", json={"blocks": ["b1"]})).content()
        await (await http.request("PUT", base + "/blocks/upload?x=1", params={"y": "2"}, data=b"block")).content()

    (_, uri1, headers1, body1), (_, uri2, _, body2) = await _served(post_both)
    assert (uri1, json.loads(body1)) == (b"/cluster", {"blocks": ["b1"]})
    assert headers1.getRawHeaders(b"Content-Type") == [b"application/json; charset=UTF-8"]
    assert (uri2, body2) == (b"/blocks/upload?x=1&y=2", b"block")
