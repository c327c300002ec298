"""The treq client every dfs component makes its own HTTP calls with (one pooled Agent per process).

It is the one place that bounds waiting: a connect timeout, and a read timeout that cuts a connection on which
no byte moved either way for that long (a frozen peer), and the one place that names dfs to servers
(``User-Agent: dfs/<version>``).
"""

import re
from typing import NamedTuple
from urllib.parse import urlencode

from treq.client import HTTPClient, _BufferedResponse
from treq.response import _Response
from twisted.internet.endpoints import HostnameEndpoint, wrapClientTLS
from twisted.internet.error import ConnectError, ConnectingCancelledError, DNSLookupError, TimeoutError
from twisted.internet.interfaces import IPushProducer
from twisted.internet.ssl import Certificate, trustRootFromCertificates
from twisted.protocols.policies import ProtocolWrapper, TimeoutMixin, WrappingFactory
from twisted.python.failure import Failure
from twisted.web._newclient import RequestTransmissionFailed
from twisted.web.client import (URI, Agent, BrowserLikePolicyForHTTPS, HTTPConnectionPool, RedirectAgent,
                                ResponseFailed)
from twisted.web.error import SchemeNotSupported
from twisted.web.http_headers import Headers
from twisted.web.iweb import IAgent, IAgentEndpointFactory
from zope.interface import implementer

from dfs.version import version

# What a request to a peer fails with when the peer cannot be reached, or dropped the connection.
UNREACHABLE = (ConnectError, ConnectingCancelledError, DNSLookupError, ResponseFailed, RequestTransmissionFailed)
_PEM_CERTIFICATE = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)


USER_AGENT = f"dfs/{version()}"
# dfs's extension of the CREATE answer: the new file's FileStatus (JSON, as GETFILESTATUS would give it then).
FILE_STATUS_HEADER = b"DFS-File-Status"


class Timeouts(NamedTuple):
    """Seconds to wait for a TCP (and TLS) connection, and for any byte to move on an open one."""

    connect: float = 10.0
    read: float = 60.0


class ReadTimeout(TimeoutError):
    """No byte moved on a connection for the read timeout: the peer is frozen or gone."""

    def __init__(self, seconds):
        super().__init__(string=f"no response for {seconds:g}s (read timeout)")

    def __str__(self):
        return self.args[0]


class _QuietPool(HTTPConnectionPool):
    """A connection pool whose factories do not log every connection they open and close."""

    class _factory(HTTPConnectionPool._factory):
        noisy = False


def make_http(reactor, connections_per_host=16, context_factory=None, sign=None, timeouts=Timeouts()):
    """A pooled treq client. ``context_factory`` is an HTTPS policy (see ``ca_policy``); ``sign(method, target)``
    returns headers to add to every request (how cluster members authenticate to each other); ``timeouts`` bound
    every wait."""
    pool = _QuietPool(reactor, persistent=True)
    pool.maxPersistentPerHost = connections_per_host
    pool.cachedConnectionTimeout = 120
    endpoints = _TimedEndpoints(reactor, context_factory or BrowserLikePolicyForHTTPS(), timeouts)
    agent = SigningAgent(Agent.usingEndpointFactory(reactor, endpoints, pool=pool), sign)
    return LeanHTTPClient(agent), pool


class LeanHTTPClient(HTTPClient):
    """treq's client without the layers no dfs peer uses, on every request of the usual kind (a ``str`` URL,
    ``params``, ``headers``, ``data`` as bytes or a body producer): treq would send it through a CookieAgent (dfs
    servers set no cookies) and a ContentDecoderAgent (they never compress), and parse and rebuild its URL with
    hyperlink. Each of those costs Python time on every namenode call, and the mount waits for one per operation.
    Other requests (``json=``, ``files=``, ``cookies=``...) take treq's own way."""

    def request(self, method, url, *, params=None, headers=None, data=None, allow_redirects=True, unbuffered=False,
                **others):
        if others or not isinstance(url, str) or not url.isascii() or isinstance(data, (dict, list, tuple)):
            return super().request(method, url, params=params, headers=headers, data=data,
                                   allow_redirects=allow_redirects, unbuffered=unbuffered, **others)
        if params:  # encoded as treq encodes them (quote_plus, lists repeated)
            url += ("&" if "?" in url else "?") + urlencode(params, doseq=True)
        agent = RedirectAgent(self._agent) if allow_redirects else self._agent
        d = agent.request(method.upper().encode("ascii"), url.encode("ascii"),
                          self._request_headers(headers, 2), self._data_to_body_producer(data) if data else None)
        if not unbuffered:
            d.addCallback(_BufferedResponse)
        return d.addCallback(_Response, self._cookiejar)


def ca_policy(ca_file):
    """An HTTPS policy that trusts only the CA certificates in the PEM file ``ca_file`` and checks host names (and IP
    addresses) the way browsers do."""
    with open(ca_file, "rb") as f:
        blocks = _PEM_CERTIFICATE.findall(f.read())
    if not blocks:
        raise ValueError(f"{ca_file} holds no PEM certificate")
    return BrowserLikePolicyForHTTPS(trustRoot=trustRootFromCertificates([Certificate.loadPEM(b) for b in blocks]))


@implementer(IAgentEndpointFactory)
class _TimedEndpoints:
    """TCP for http, TCP+TLS for https, as Agent's own, with the connect timeout and the read timeout."""

    def __init__(self, reactor, https_policy, timeouts):
        self._reactor = reactor
        self._https_policy = https_policy
        self._timeouts = timeouts

    def endpointForURI(self, uri):
        endpoint = HostnameEndpoint(self._reactor, uri.host.decode("ascii"), uri.port,
                                    timeout=self._timeouts.connect)
        if uri.scheme == b"https":
            endpoint = wrapClientTLS(self._https_policy.creatorForNetloc(uri.host, uri.port), endpoint)
        elif uri.scheme != b"http":
            raise SchemeNotSupported(f"unsupported scheme {uri.scheme.decode('ascii', 'replace')}")
        return _ReadTimeoutEndpoint(endpoint, self._reactor, self._timeouts.read)


class _ReadTimeoutEndpoint:
    def __init__(self, endpoint, clock, seconds):
        self._endpoint = endpoint
        self._clock = clock
        self._seconds = seconds

    def connect(self, factory):
        wrapping = WrappingFactory(factory)
        wrapping.protocol = lambda wrapper_factory, wrapped: _ReadTimeoutProtocol(
            wrapper_factory, wrapped, self._clock, self._seconds)
        return self._endpoint.connect(wrapping).addCallback(lambda wrapper: wrapper.wrappedProtocol)


class _ReadTimeoutProtocol(ProtocolWrapper, TimeoutMixin):
    """Aborts the connection when no byte moved for ``seconds`` while we waited on the peer. Aborts, not closes: a
    close would wait for a frozen peer to take the unsent bytes.

    We wait on the peer unless we stopped it ourselves: while our own reader holds the connection paused (a slow
    client downstream of a relay), and while a request body is being sent that the peer is keeping up with (the
    body's source may be a pipe that is quiet for a while: the peer is not at fault until our writes back up, or the
    body is done and its answer is due)."""

    def __init__(self, factory, wrapped, clock, seconds):
        super().__init__(factory, wrapped)
        self.callLater = clock.callLater
        self._seconds = seconds
        self._timed_out = False
        self._reading = True  # false while our own reader has paused the connection
        self._sending_body = False  # a request body's producer is registered
        self._backed_up = False  # the transport paused that producer: the peer is not taking our bytes

    def _watch(self):
        waiting_on_peer = self._reading and (not self._sending_body or self._backed_up)
        self.setTimeout(self._seconds if waiting_on_peer else None)

    def makeConnection(self, transport):
        self.setTimeout(self._seconds)
        super().makeConnection(transport)

    def dataReceived(self, data):
        self.resetTimeout()
        super().dataReceived(data)

    def write(self, data):
        self.resetTimeout()
        super().write(data)

    def writeSequence(self, data):
        self.resetTimeout()
        super().writeSequence(data)

    def pauseProducing(self):
        self._reading = False
        self._watch()
        self.transport.pauseProducing()

    def resumeProducing(self):
        self._reading = True
        self._watch()
        self.transport.resumeProducing()

    def registerProducer(self, producer, streaming):
        self._sending_body, self._backed_up = True, False
        self._watch()
        self.transport.registerProducer(_BackUpWatch(producer, self), streaming)

    def unregisterProducer(self):
        self._sending_body, self._backed_up = False, False
        self._watch()
        self.transport.unregisterProducer()

    def _backing_up(self, backed_up):
        self._backed_up = backed_up
        self._watch()

    def timeoutConnection(self):
        self._timed_out = True
        self.transport.abortConnection()

    def connectionLost(self, reason):
        self.setTimeout(None)
        if self._timed_out:
            reason = Failure(ReadTimeout(self._seconds))
        super().connectionLost(reason)


@implementer(IPushProducer)
class _BackUpWatch:
    """A request body's producer as the transport sees it: tells the connection when the transport pauses it."""

    def __init__(self, producer, connection):
        self._producer = producer
        self._connection = connection

    def pauseProducing(self):
        self._connection._backing_up(True)
        self._producer.pauseProducing()

    def resumeProducing(self):
        self._connection._backing_up(False)
        self._producer.resumeProducing()

    def stopProducing(self):
        self._producer.stopProducing()


@implementer(IAgent)
class SigningAgent:
    """Adds ``User-Agent`` and ``sign(method, target)``'s headers to each request; the target is the path and
    query as sent."""

    def __init__(self, agent, sign=None):
        self._agent = agent
        self._sign = sign

    def request(self, method, uri, headers=None, bodyProducer=None):
        headers = headers.copy() if headers is not None else Headers()
        headers.setRawHeaders(b"User-Agent", [USER_AGENT.encode()])
        if self._sign is not None:
            for name, value in (self._sign(method, URI.fromBytes(uri).originForm) or {}).items():
                headers.setRawHeaders(name, [value])
        return self._agent.request(method, uri, headers, bodyProducer)
