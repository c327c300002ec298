"""The HTTP channel's limits, in memory: each breach gets its status before a body byte is stored."""

import io
import json

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.web.resource import Resource

from dfs.errors import Unauthorized
from dfs.limits import Limits
from dfs.web import QuietSite


class Echo(Resource):
    isLeaf = True

    def render(self, request):
        request.setHeader(b"Content-Type", b"text/plain")
        return b"ok:" + request.content.read()


class CountingSite(QuietSite):
    """Counts the request bodies it was asked to store."""

    stored = 0

    def getContentFile(self, length):
        self.stored += 1
        return io.BytesIO()


def server(**limits):
    clock = Clock()
    site = CountingSite(Echo(), reactor=clock)
    site.limits = Limits(**limits)
    return site, clock


def connect(site, host="10.0.0.1"):
    address = IPv4Address("TCP", host, 40000)
    channel = site.buildProtocol(address)
    transport = StringTransport(peerAddress=address)
    channel.makeConnection(transport)
    return channel, transport


def answer(transport):
    """(status, parsed JSON body or raw body) of the first response written."""
    head, _, body = transport.value().partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body


def test_an_ordinary_request_passes():
    site, _ = server()
    channel, transport = connect(site)
    channel.dataReceived(b"GET /x?a=1&b=2 HTTP/1.1\r\nHost: h\r\n\r\n")
    assert answer(transport)[0] == 200 and not transport.disconnecting


def test_long_request_line_gets_414():
    site, _ = server(max_request_line=100)
    channel, transport = connect(site)
    channel.dataReceived(b"GET /" + b"a" * 200 + b" HTTP/1.1\r\nHost: h\r\n\r\n")
    status, body = answer(transport)
    assert status == 414 and "request line" in body["RemoteException"]["message"]
    assert transport.disconnecting


def test_a_request_line_without_end_gets_414():
    site, _ = server(max_request_line=100, max_header_size=100)
    channel, transport = connect(site)
    channel.dataReceived(b"GET /" + b"a" * 500)
    assert answer(transport)[0] == 414


def test_too_many_parameters_get_414():
    site, _ = server(max_params=5)
    channel, transport = connect(site)
    channel.dataReceived(b"GET /x?" + b"&".join(b"p%d=1" % i for i in range(6)) + b" HTTP/1.1\r\n\r\n")
    status, body = answer(transport)
    assert status == 414 and "parameters" in body["RemoteException"]["message"]


@pytest.mark.parametrize("head", [
    b"X-Big: " + b"v" * 300 + b"\r\n",
    b"".join(b"X-H%d: v\r\n" % i for i in range(11)),
    b"X-Unended: " + b"v" * 600,
])
def test_big_or_many_headers_get_431(head):
    site, _ = server(max_header_size=256, max_headers=10)
    channel, transport = connect(site)
    channel.dataReceived(b"GET / HTTP/1.1\r\n" + head + b"\r\n")
    assert answer(transport)[0] == 431 and transport.disconnecting


def test_headers_sent_a_byte_at_a_time_are_cut_off():
    site, clock = server(header_timeout=5)
    channel, transport = connect(site)
    for byte in b"GET / HTTP/1.1\r\nHost: slowloris\r\n":
        channel.dataReceived(bytes([byte]))
        clock.advance(0.1)  # every byte would reset an idle timeout
    assert transport.value() == b""
    clock.advance(5)
    assert answer(transport)[0] == 408 and transport.disconnecting


def test_a_silent_connection_is_cut_off_but_a_kept_alive_one_waits_for_the_idle_timeout():
    site, clock = server(header_timeout=5)
    _, silent = connect(site)
    clock.advance(5)
    assert answer(silent)[0] == 408
    channel, transport = connect(site)
    channel.dataReceived(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
    assert answer(transport)[0] == 200
    clock.advance(30)  # idle between requests, within the idle timeout: not a slow client
    assert not transport.disconnecting
    transport.clear()
    channel.dataReceived(b"GET / HT")
    clock.advance(5)
    assert answer(transport)[0] == 408


def test_a_large_body_outside_uploads_gets_413_before_it_is_stored():
    site, _ = server(max_body=10, is_upload=lambda method, target: target == b"/upload")
    channel, transport = connect(site)
    channel.dataReceived(b"PUT /json HTTP/1.1\r\nContent-Length: 11\r\n\r\n")
    assert answer(transport)[0] == 413 and site.stored == 0
    channel, transport = connect(site)
    channel.dataReceived(b"PUT /json HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
    channel.dataReceived(b"9\r\n123456789\r\n0\r\n\r\n")
    assert answer(transport)[0] == 413
    channel, transport = connect(site)
    channel.dataReceived(b"PUT /upload HTTP/1.1\r\nContent-Length: 20\r\n\r\n" + b"u" * 20)
    assert answer(transport) == (200, b"ok:" + b"u" * 20)


def test_concurrent_uploads_per_address_are_capped():
    site, _ = server(uploads_per_client=2, is_upload=lambda method, target: target == b"/upload")
    start = b"PUT /upload HTTP/1.1\r\nContent-Length: 4\r\n\r\n"
    first, second = connect(site), connect(site)
    for channel, _ in (first, second):
        channel.dataReceived(start + b"ab")  # bodies still arriving
    channel, transport = connect(site)
    channel.dataReceived(start)
    status, body = answer(transport)
    assert status == 429 and b"Retry-After: 5" in transport.value()
    other_channel, other = connect(site, host="10.0.0.2")
    other_channel.dataReceived(start + b"abcd")
    assert answer(other)[0] == 200
    first[0].dataReceived(b"cd")
    assert answer(first[1])[0] == 200
    channel, transport = connect(site)
    channel.dataReceived(start + b"wxyz")
    assert answer(transport)[0] == 200


def test_admit_refuses_a_body_before_it_is_stored():
    def admit(method, target, headers):
        return None if headers.hasHeader(b"authorization") else Unauthorized("who are you?")

    site, _ = server(admit=admit)
    channel, transport = connect(site)
    channel.dataReceived(b"PUT /x HTTP/1.1\r\nContent-Length: 1000000\r\n\r\n" + b"z" * 1000)
    status, body = answer(transport)
    assert status == 401 and body["RemoteException"]["message"] == "who are you?" and site.stored == 0
    channel, transport = connect(site)
    channel.dataReceived(b"PUT /x HTTP/1.1\r\nAuthorization: yes\r\nContent-Length: 2\r\n\r\nhi")
    assert answer(transport) == (200, b"ok:hi")
    channel, transport = connect(site)
    channel.dataReceived(b"GET /x HTTP/1.1\r\n\r\n")  # no body: left to the route's own check
    assert answer(transport)[0] == 200


@example(b"\x00\r\n")  # twisted.web answers 400 itself; the header deadline must not answer again later
@given(st.binary(max_size=400))
def test_any_bytes_get_an_answer_or_wait_never_an_exception(data):
    site, clock = server(max_request_line=64, max_header_size=128, max_headers=4, max_params=3, max_body=16)
    channel, transport = connect(site)
    channel.dataReceived(data)
    clock.advance(30)
    written = transport.value()
    assert written == b"" or written.startswith(b"HTTP/1.1 ")


def test_an_upload_announcing_more_than_the_largest_file_gets_413_before_it_is_stored():
    site, _ = server(max_upload=100, is_upload=lambda method, target: target == b"/upload")
    channel, transport = connect(site)
    channel.dataReceived(b"PUT /upload HTTP/1.1\r\nContent-Length: 999999999999999\r\n\r\n")
    status, body = answer(transport)
    assert status == 413 and body["RemoteException"]["exception"] == "FileTooLargeException"
    assert site.stored == 0


class Path(Resource):
    isLeaf = True

    def render(self, request):
        request.setHeader(b"Content-Type", b"text/plain")
        return request.path


def test_a_path_with_raw_utf8_is_read_as_its_percent_encoding():
    """Hadoop's WebHdfsFileSystem sends non-ASCII path characters as raw UTF-8 (URI.getRawPath keeps them), which
    HDFS's Jetty accepts; twisted.web accepts only ASCII in a request line."""
    site = QuietSite(Path(), reactor=Clock())
    site.limits = Limits()
    channel, transport = connect(site)
    channel.dataReceived("GET /d/ünï%20x?op=LISTSTATUS HTTP/1.1\r\nHost: h\r\n\r\n".encode())
    assert answer(transport) == (200, b"/d/%C3%BCn%C3%AF%20x")


def test_a_path_that_is_not_utf8_gets_400():
    site, _ = server()
    channel, transport = connect(site)
    channel.dataReceived(b"GET /d/\xfc HTTP/1.1\r\nHost: h\r\n\r\n")
    status, body = answer(transport)
    assert status == 400 and body["RemoteException"]["message"] == "the path is not percent-encoded UTF-8"
