"""A datanode given --namenode-dns keeps one link per address its namenode names resolve to, following them."""

from twisted.internet import defer
from twisted.internet.task import Clock

from dfs.datanode.blockstore import BlockStore
from dfs.datanode.discovery import DiscoveredLinks, address_urls
from dfs.datanode.heartbeat import NamenodeLink
from dfs.datanode.tap import DatanodeOptions


class FakeLink:
    def __init__(self, url):
        self.url = url
        self.started = None
        self.stopped = False
        self.corrupt = []

    def start(self, url, public_url):
        self.started = (url, public_url)

    def stop(self):
        self.stopped = True

    async def report_corrupt(self, block_ids):
        self.corrupt.append(block_ids)


class FakeDNS:
    def __init__(self, **answers):
        self.answers = answers

    def resolve(self, host):
        answer = self.answers[host]
        return defer.fail(answer) if isinstance(answer, Exception) else defer.succeed(answer)


def test_an_address_takes_the_place_of_the_host_name():
    assert address_urls("http://tasks.namenode:8180", ["10.0.0.7", "10.0.0.9"]) == \
        ["http://10.0.0.7:8180", "http://10.0.0.9:8180"]
    assert address_urls("https://nn", ["10.0.0.7"]) == ["https://10.0.0.7"]


def test_links_follow_the_addresses_as_replicas_come_and_go():
    clock, made = Clock(), []
    dns = FakeDNS(**{"tasks.nn": ["10.0.0.2", "10.0.0.3"]})

    def make_link(url):
        made.append(FakeLink(url))
        return made[-1]

    links = DiscoveredLinks(["http://tasks.nn:8180"], make_link, dns.resolve, clock, interval=10)
    links.start("http://10.0.1.5:8181", "http://public:8181")
    assert sorted(links.links) == ["http://10.0.0.2:8180", "http://10.0.0.3:8180"]
    assert all(link.started == ("http://10.0.1.5:8181", "http://public:8181") for link in made)

    dns.answers["tasks.nn"] = ["10.0.0.3", "10.0.0.4"]  # a replica replaced by a new task elsewhere
    clock.advance(10)
    assert sorted(links.links) == ["http://10.0.0.3:8180", "http://10.0.0.4:8180"]
    assert [link.url for link in made if link.stopped] == ["http://10.0.0.2:8180"]
    assert len(made) == 3, "the link to the replica that stayed is kept, not made again"

    dns.answers["tasks.nn"] = OSError("no such host")  # every replica down at once, or DNS away
    clock.advance(10)
    assert sorted(links.links) == ["http://10.0.0.3:8180", "http://10.0.0.4:8180"], "kept until DNS answers"

    links.report_corrupt(["b"])
    assert [link.corrupt for link in made if not link.stopped] == [[["b"]], [["b"]]]
    links.stop()
    assert all(link.stopped for link in made) and not clock.getDelayedCalls()


def test_the_option_and_its_environment_variable(monkeypatch):
    options = DatanodeOptions()
    options.parseOptions([])
    assert not options["namenode-dns"]
    options.parseOptions(["--namenode-dns"])
    assert options["namenode-dns"]
    monkeypatch.setenv("DFS_NAMENODE_DNS", "1")
    assert DatanodeOptions()["namenode-dns"]


def test_a_dropped_link_stops_collecting_block_changes(tmp_path):
    store = BlockStore(str(tmp_path / "dn"))
    link = NamenodeLink(None, store, store.identity(), Clock(), None)
    assert len(store.on_new_block) == len(store.on_gone_block) == 1
    link.stop()
    assert store.on_new_block == store.on_gone_block == []
