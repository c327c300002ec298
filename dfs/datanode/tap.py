"""Builds the datanode service tree: block store, HTTP server, and the link to the namenode."""

import socket
import time

from twisted.application import service
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python import usage
from twisted.python.threadpool import ThreadPool

from dfs.datanode.app import DatanodeApp
from dfs.datanode.blockstore import BlockStore
from dfs.client.config import namenode_urls
from dfs.datanode.discovery import DiscoveredLinks, resolve_ipv4
from dfs.errors import BadRequest
from dfs.exitstatus import give_up
from dfs.datanode.heartbeat import REPORT_INTERVAL, NamenodeLink, NamenodeLinks
from dfs.datanode.layout import LayoutTooNew
from dfs.datanode.scrubber import DAY, Scrubber
from dfs.datanode.volumes import VolumeWatch
from dfs.http import make_http
from dfs.options import CommonOptions, ListeningService, Refused, env, size_value
from dfs.peers import DatanodeClient, NamenodeClient
from dfs.racks import DEFAULT_RACK, check_rack
from dfs.security import NODE, Guard
from dfs.web import MeasuredRequest, QuietSite

log = Logger()


class DatanodeOptions(CommonOptions):
    """Options of `twistd dfs-datanode`; each falls back to the DFS_* variable named in its help."""

    role = "datanode"
    default_port = 8181
    optFlags = [
        ["namenode-dns", None, "Each namenode host name stands for every address it resolves to, looked up again "
                               "every 10 s: one link per address, e.g. swarm's tasks.<service> (env "
                               "DFS_NAMENODE_DNS=1)."],
    ]

    def __init__(self):
        super().__init__()
        self["root"] = env("DFS_FS_ROOT", "dfs-data")
        self["rack"] = env("DFS_RACK", DEFAULT_RACK)
        self["failed-volumes-tolerated"] = int(env("DFS_FAILED_VOLUMES_TOLERATED", 0))
        self["namenode"] = env("DFS_NAMENODE_URL", "http://127.0.0.1:8180")
        self["namenode-dns"] = env("DFS_NAMENODE_DNS", "") in ("1", "true", "yes")
        self["advertise-host"] = env("DFS_ADVERTISE_HOST")
        self["public-url"] = env("DFS_PUBLIC_URL")
        capacity = env("DFS_CAPACITY")
        self["capacity"] = size_value(capacity) if capacity else None
        self["reserve"] = size_value(env("DFS_RESERVE", "64M"))
        self["gc-grace"] = float(env("DFS_GC_GRACE", 600))
        self["scrub-rate"] = size_value(env("DFS_SCRUB_RATE", "32M"))
        self["scrub-period"] = float(env("DFS_SCRUB_PERIOD", 21))
        self["block-report-interval"] = float(env("DFS_BLOCK_REPORT_INTERVAL", REPORT_INTERVAL))

    def opt_root(self, value):
        """Directory holding this node's blocks and identity, or a comma-separated list of them, one per disk (env
        DFS_FS_ROOT, default ./dfs-data)."""
        self["root"] = value

    def opt_failed_volumes_tolerated(self, value):
        """Data directories that may fail before the datanode stops; 0 (the default, as HDFS): the first failure
        stops it (env DFS_FAILED_VOLUMES_TOLERATED)."""
        self["failed-volumes-tolerated"] = int(value)

    def opt_rack(self, value):
        """The failure domain this node is in, a path like /zone-a/rack-1: a block's replicas span two racks when
        two exist (env DFS_RACK, default /default-rack)."""
        self["rack"] = value

    def opt_namenode(self, value):
        """The namenode's URL, or a comma-separated list of them: the datanode reports to each (env
        DFS_NAMENODE_URL, default http://127.0.0.1:8180)."""
        self["namenode"] = value

    def opt_advertise_host(self, value):
        """Host name the namenode and peers use to reach this node (env DFS_ADVERTISE_HOST)."""
        self["advertise-host"] = value

    def opt_public_url(self, value):
        """URL clients are redirected to for reads (env DFS_PUBLIC_URL; default: the advertised URL)."""
        self["public-url"] = value

    def opt_capacity(self, value):
        """Most bytes this node offers, e.g. 10G (env DFS_CAPACITY; default: the disk)."""
        self["capacity"] = size_value(value)

    def opt_reserve(self, value):
        """Free space kept back, never offered for blocks (env DFS_RESERVE, default 64M)."""
        self["reserve"] = size_value(value)

    def opt_gc_grace(self, value):
        """Seconds before an abandoned partial upload is removed (env DFS_GC_GRACE, default 600)."""
        self["gc-grace"] = float(value)

    def opt_scrub_rate(self, value):
        """Bytes per second the scrubber re-reads to find bit rot, e.g. 32M; 0 turns it off (env DFS_SCRUB_RATE)."""
        self["scrub-rate"] = size_value(value)

    def opt_scrub_period(self, value):
        """Days between two checks of each block by the scrubber (env DFS_SCRUB_PERIOD, default 21, as HDFS)."""
        self["scrub-period"] = float(value)

    def opt_block_report_interval(self, value):
        """Seconds between full block reports to each namenode, the first after a random share of it (env
        DFS_BLOCK_REPORT_INTERVAL, default 21600: 6 hours, as HDFS). Blocks that land or leave are told with the
        next heartbeat whatever this is."""
        self["block-report-interval"] = float(value)

    def postOptions(self):
        super().postOptions()
        try:
            check_rack(self["rack"])
        except BadRequest as e:
            raise usage.UsageError(f"--rack: {e}") from None
        if self["block-report-interval"] <= 0:
            raise usage.UsageError("--block-report-interval must be a positive number of seconds")


class DatanodeRequest(MeasuredRequest):
    """A block upload's body goes straight into a block file in ``incoming/`` (hashed on arrival), not a temp file;
    other bodies (a batch of small blocks, JSON) are held as twisted.web holds them, within the body limit."""

    def gotLength(self, length):
        super().gotLength(length)
        site = self.channel.site
        if length != 0 and site.is_upload(self.channel._command, self.channel._path):
            self.content.close()
            self.content = site.store.new_sink()


class DatanodeSite(QuietSite):
    """``is_upload(method, target)`` names the requests whose body is one block (DatanodeApp.is_upload)."""

    requestFactory = DatanodeRequest

    def __init__(self, resource, store, is_upload, **kwargs):
        super().__init__(resource, **kwargs)
        self.store = store
        self.is_upload = is_upload


class DatanodeService(service.MultiService):
    def __init__(self, store, link, scrubber, pool, http_pool, grace, clock, volumes):
        super().__init__()
        self.store, self.link, self.scrubber, self.pool, self.http_pool = store, link, scrubber, pool, http_pool
        self.grace = grace
        self.cleaner = LoopingCall(self._clean_incoming)
        self.cleaner.clock = clock
        self.volumes = volumes

    def startService(self):
        self.pool.start()
        super().startService()
        self.cleaner.start(max(1.0, self.grace / 4), now=False)
        self.volumes.start()
        self.scrubber.start()

    def _clean_incoming(self):
        removed = self.store.clean_incoming_sync(self.grace, time.time())
        if removed:
            log.info("removed {n} abandoned partial upload(s)", n=removed)

    def stopService(self):
        self.link.stop()
        self.volumes.stop()
        self.scrubber.stop()
        if self.cleaner.running:
            self.cleaner.stop()
        d = super().stopService()
        d.addBoth(lambda _: self.http_pool.closeCachedConnections())
        d.addBoth(lambda _: self.pool.stop())
        return d


def build_datanode(reactor, options):
    try:
        store = BlockStore(options["root"], options["capacity"], options["reserve"])
    except LayoutTooNew as e:
        raise Refused("datanode", e) from None
    failed = store.failed_volumes()
    if len(failed) > options["failed-volumes-tolerated"] or not store.in_use():
        reasons = "; ".join(why for _, why in failed)
        raise Refused("datanode", f"{len(failed)} data director(ies) unusable ({reasons}), "
                                  f"{options['failed-volumes-tolerated']} tolerated (--failed-volumes-tolerated)")
    store.scan_sync()
    identity = store.identity()
    guard = Guard(options.secret(), reactor, audience=identity["id"])
    http, http_pool = make_http(reactor, context_factory=options.https_policy(),
                                sign=guard.node_headers if guard.enabled else None, timeouts=options.timeouts())
    pool = ThreadPool(minthreads=2, maxthreads=16, name="dfs-datanode-disk")
    namenodes = [NamenodeClient(http, url) for url in namenode_urls(options["namenode"])]
    app = DatanodeApp(store, DatanodeClient(http), reactor, pool, namenodes, guard=guard)
    app.node_id = identity["id"]

    def shares_no_version(reason):
        """A namenode keeps refusing this datanode's protocol: stop with a failure status (so that a rolling update
        to an incompatible release fails and is rolled back), unless another namenode takes it."""
        if not link.registered_anywhere():
            give_up(reactor, "datanode", reason)

    def make_link(namenode):
        return NamenodeLink(namenode, store, identity, reactor, app.in_thread, options["heartbeat"],
                            options["block-report-interval"], rack=options["rack"], give_up=shares_no_version)

    if options["namenode-dns"]:
        link = DiscoveredLinks([namenode.url for namenode in namenodes],
                               lambda url: make_link(NamenodeClient(http, url)), resolve_ipv4, reactor)
    else:
        link = NamenodeLinks([make_link(namenode) for namenode in namenodes])
    app.report_corrupt = link.report_corrupt
    scrubber = Scrubber(store, app.in_thread, link.report_corrupt, reactor, options["scrub-rate"],
                        options["scrub-period"] * DAY)
    app.scrubber = scrubber
    volumes = VolumeWatch(store, app.in_thread, options["failed-volumes-tolerated"],
                          lambda reason: give_up(reactor, "datanode", reason), reactor, options["heartbeat"])
    top = DatanodeService(store, link, scrubber, pool, http_pool, options["gc-grace"], reactor, volumes)
    scheme = "https" if options.endpoint_description().startswith("ssl:") else "http"

    def listening(address):
        host = options["advertise-host"] or address.host
        if host in ("0.0.0.0", "::"):
            # Listening everywhere: the address others know this machine by (in a container, its own).
            host = socket.gethostbyname(socket.gethostname())
        url = f"{scheme}://{host}:{address.port}"
        app.own_url = url
        link.start(url, (options["public-url"] or url).rstrip("/"))

    app.telemetry.probes(reactor, options["lag-probe-interval"], options["stall-trace"]).setServiceParent(top)
    site = DatanodeSite(app.resource(), store, app.is_upload, metrics=app.telemetry, timeout=options["idle-timeout"])
    site.limits = options.limits(is_upload=app.is_upload, admit=guard.admission(NODE))  # bodies come from peers
    ListeningService(reactor, options.endpoint_description(), site, "datanode", listening).setServiceParent(top)
    log.info("datanode {node} with {n} blocks in {root}", node=identity["id"], n=len(store.block_ids),
             root=store.root)
    return top


Options = DatanodeOptions


def makeService(options):
    from twisted.internet import reactor

    return build_datanode(reactor, options)
