"""Namenodes found by DNS: each configured namenode name stands for every address it resolves to (swarm's
``tasks.<service>``, a Kubernetes headless service), so a datanode beats to each replica of a service that a load
balancer would otherwise hide, and follows replicas as they come and go."""

import socket
from urllib.parse import urlsplit

from twisted.internet import defer, threads
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

log = Logger()

LOOKUP_INTERVAL = 10.0  # seconds between two lookups: a new namenode replica hears from this datanode within this


def resolve_ipv4(host):
    """Every IPv4 address of ``host``, sorted (a Deferred; the lookup blocks, so it runs in a thread)."""
    def lookup():
        infos = socket.getaddrinfo(host, None, socket.AF_INET, socket.SOCK_STREAM)
        return sorted({info[4][0] for info in infos})
    return threads.deferToThread(lookup)


def address_urls(url, addresses):
    """``url`` once per address, the address in place of its host name."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return [parts._replace(netloc=f"{address}{port}").geturl() for address in addresses]


class DiscoveredLinks:
    """The datanode's links (as NamenodeLinks: start, stop, report_corrupt), one per address the namenode names in
    ``urls`` resolve to. ``make_link(url)`` builds a stopped NamenodeLink; ``resolve(host)`` gives a Deferred list
    of addresses. A failed lookup keeps the links there are (each gives up on a dead namenode by itself)."""

    def __init__(self, urls, make_link, resolve, clock, interval=LOOKUP_INTERVAL):
        self.urls, self.make_link, self.resolve = list(urls), make_link, resolve
        self.links = {}  # address URL -> NamenodeLink
        self.own_url = self.public_url = None
        self._loop = LoopingCall(self.refresh)
        self._loop.clock = clock
        self.interval = interval

    def start(self, url, public_url):
        self.own_url, self.public_url = url, public_url
        self._loop.start(self.interval, now=True)

    def stop(self):
        if self._loop.running:
            self._loop.stop()
        for link in self.links.values():
            link.stop()

    async def _wanted(self):
        wanted = []
        for url in self.urls:
            wanted += address_urls(url, await self.resolve(urlsplit(url).hostname))
        return wanted

    def refresh(self):
        d = defer.Deferred.fromCoroutine(self._refresh())
        d.addErrback(lambda failure: log.warn("namenode lookup failed: {why}", why=failure.getErrorMessage()))
        return d

    async def _refresh(self):
        wanted = await self._wanted()
        for url in [url for url in self.links if url not in wanted]:
            self.links.pop(url).stop()
            log.info("namenode {url} is gone from DNS: no longer reporting to it", url=url)
        for url in [url for url in wanted if url not in self.links]:
            link = self.links[url] = self.make_link(url)
            link.start(self.own_url, self.public_url)
            log.info("namenode {url} found in DNS: reporting to it", url=url)

    def registered_anywhere(self):
        return any(link.registered for link in self.links.values())

    def report_corrupt(self, block_ids):
        """Tell every namenode known now (each link logs its own failure)."""
        return defer.gatherResults([defer.Deferred.fromCoroutine(link.report_corrupt(block_ids))
                                    for link in list(self.links.values())])
