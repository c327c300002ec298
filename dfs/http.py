"""The treq client every dfs component makes its own HTTP calls with (one pooled Agent per process)."""

import re

from treq.client import HTTPClient
from twisted.internet.ssl import Certificate, trustRootFromCertificates
from twisted.web.client import URI, Agent, BrowserLikePolicyForHTTPS, HTTPConnectionPool
from twisted.web.http_headers import Headers
from twisted.web.iweb import IAgent
from zope.interface import implementer

_PEM_CERTIFICATE = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)


class _QuietPool(HTTPConnectionPool):
    """A connection pool whose factories do not log every connection they open and close."""

    class _factory(HTTPConnectionPool._factory):
        noisy = False


def make_http(reactor, connections_per_host=16, context_factory=None, sign=None):
    """A pooled treq client. ``context_factory`` is an HTTPS policy (see ``ca_policy``); ``sign(method, target)``
    returns headers to add to every request (how cluster members authenticate to each other)."""
    pool = _QuietPool(reactor, persistent=True)
    pool.maxPersistentPerHost = connections_per_host
    pool.cachedConnectionTimeout = 120
    if context_factory is not None:
        agent = Agent(reactor, contextFactory=context_factory, pool=pool)
    else:
        agent = Agent(reactor, pool=pool)
    if sign is not None:
        agent = SigningAgent(agent, sign)
    return HTTPClient(agent), pool


def ca_policy(ca_file):
    """An HTTPS policy that trusts only the CA certificates in the PEM file ``ca_file`` and checks host names (and IP
    addresses) the way browsers do."""
    with open(ca_file, "rb") as f:
        blocks = _PEM_CERTIFICATE.findall(f.read())
    if not blocks:
        raise ValueError(f"{ca_file} holds no PEM certificate")
    return BrowserLikePolicyForHTTPS(trustRoot=trustRootFromCertificates([Certificate.loadPEM(b) for b in blocks]))


@implementer(IAgent)
class SigningAgent:
    """Adds ``sign(method, target)``'s headers to each request; the target is the path and query as sent."""

    def __init__(self, agent, sign):
        self._agent = agent
        self._sign = sign

    def request(self, method, uri, headers=None, bodyProducer=None):
        extra = self._sign(method, URI.fromBytes(uri).originForm)
        if extra:
            headers = headers.copy() if headers is not None else Headers()
            for name, value in extra.items():
                headers.setRawHeaders(name, [value])
        return self._agent.request(method, uri, headers, bodyProducer)
