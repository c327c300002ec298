"""Many datanodes against one real namenode: its CPU, reactor stalls, memory per file and per replica, and how long
a full block report takes to be accepted.

    .venv/bin/python bench/scale.py                                  # toy size: 10 datanodes, 10^4 replicas, 20 s
    .venv/bin/python bench/scale.py --datanodes 1000 --replicas 1000000 --seconds 120 --out bench/out/scale-1k-1m

The namenode is a real `twistd dfs-namenode` (tests/cluster.py's Process, loopback, its default timings: stale
after 30 s, dead after 630 s, repair every 3 s). Before it starts, its SQLite database is filled in this process:
the real schema (the namespace opened in process), the first file made through the namespace API, the others as rows
copied from it (1,000 files per directory, --blocks-per-file blocks each, replication 3, --replicas / 3 blocks).

The datanodes are played by this process, speaking --protocol (dfs.protocol; a --old-share of them the previous
release's version, as during a rolling upgrade). Each registers, heartbeats every --heartbeat seconds and sends a
full report every --report-every beats (staggered); FakeDatanodeLink holds every call. Protocol 2, as
dfs.datanode.heartbeat does: the registration offers the versions, the full report follows in dfs.blockreports'
binary pieces, heartbeats tell the blocks received and deleted since the last one, and a heartbeat answered
``full_report`` brings one. Protocol 1: the registration carries the full report as one JSON list, full reports
are one JSON list too, heartbeats tell the blocks received. One web server answers, for all of them, the copy and
delete requests repair sends, as a datanode of that version does: batches (``POST /blocks/fetch``, ``POST
/blocks/delete``) for protocol 2, one request a block for either (404 to a batch for protocol 1). A
--under-replicated share of blocks is reported by one holder fewer, so repair has copies to make, and an
--over-replicated share by one more, so it has replicas to delete; a copied block is announced in the next
heartbeat and held from then on. A datanode whose call failed (or got no answer within dfs's timeouts: 10 s to
connect, 60 s without a byte) registers again at its next beat, as dfs.datanode.heartbeat does; each keeps one
connection to the namenode.

Printed (and written to OUT.json):
- namenode CPU: its share of one core (/proc/<pid>/stat, all threads) while the datanodes register, and after;
- reactor stalls: a separate process asks /health every --probe-interval seconds on one connection and times each
  answer (p99 and max, per phase); beside it the namenode's own dfs_reactor_lag_seconds histogram, the CPU its
  reactor's thread held between two ticks of a 5-ms probe (dfs_reactor_held_cpu_seconds: the longest holds,
  which a loaded machine does not lengthen as it does the probes' answers), and its garbage collector's pauses by
  generation (dfs_gc_pause_seconds: how many, how many over 10 and 50 ms); and where the reactor was in its stalls
  over 50 ms (the namenode runs with --stall-trace 0.05): of those in which its thread also used 50 ms of CPU
  (work, not a wait for a core), the places its stack was seen most, by stalls, total and longest ms of CPU;
- resident memory: an empty namenode's RSS, then with the files (bytes per file), then with every replica reported
  (bytes per replica);
- full reports: seconds from sending one (a registration or a periodic report) to its (last piece's) answer, p50
  and max;
- the copies and deletes answered, and the block requests by route.
"""

import argparse
import hashlib
import json
import multiprocessing
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from http.client import HTTPConnection

from klein import Klein
from twisted.internet import defer, task
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.internet.error import ConnectError
from twisted.python.failure import Failure
from twisted.web.server import Site

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(BENCH), "tests"))

from cluster import Process  # noqa: E402
from namespace_ops import cpu_seconds, percentile, rss_bytes  # noqa: E402
from outfiles import write_json  # noqa: E402

from dfs import blockreports, protocol  # noqa: E402
from dfs.http import make_http  # noqa: E402
from dfs.namenode.namespace.model import Extent  # noqa: E402
from dfs.namenode.namespace.sqlite import SQLiteNamespace  # noqa: E402
from dfs.peers import NamenodeClient  # noqa: E402
from dfs.web import read_json  # noqa: E402

FILES_PER_DIRECTORY = 1000
FILL_CHUNK = 50_000  # files per transaction while filling
JSON = {b"Content-Type": [b"application/json"]}
LAG_METRIC = "dfs_reactor_lag_seconds_bucket"
HELD_METRIC = "dfs_reactor_held_cpu_seconds_bucket"
GC_METRIC = "dfs_gc_pause_seconds_bucket"
PROBE_INTERVAL = 0.005  # the namenode's lag probe: its held-CPU histogram is then the reactor's longest holds
STALL = 0.05  # the issue's bound: the reactor never blocks longer
STALL_LINE = re.compile(r"the reactor was held [0-9.]+ ms \((?P<cpu_ms>[0-9.]+) ms of its CPU\); its stack in \d+ samples:"
                        r" \d+x (?P<first>[^;\n]+)")
STALL_PLACES_SHOWN = 8


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datanodes", type=int, default=10, help="datanodes to play (default 10)")
    p.add_argument("--replicas", type=int, default=10_000, help="replicas in all, blocks × 3 (default 10000)")
    p.add_argument("--replication", type=int, default=3, help="replicas per block (default 3)")
    p.add_argument("--blocks-per-file", type=int, default=1, help="blocks per file (default 1)")
    p.add_argument("--block-bytes", type=int, default=4 << 20, help="size of every block (default 4 MiB)")
    p.add_argument("--under-replicated", type=float, default=0.001,
                   help="share of blocks reported one replica short, for repair's copy work (default 0.001)")
    p.add_argument("--over-replicated", type=float, default=0.001,
                   help="share of blocks reported with one replica more, for repair's deletes (default 0.001)")
    p.add_argument("--heartbeat", type=float, default=3.0, help="seconds between a datanode's heartbeats (default 3)")
    p.add_argument("--report-every", type=int, default=20, help="heartbeats between full reports (default 20)")
    p.add_argument("--protocol", type=int, choices=range(protocol.OLDEST, protocol.CURRENT + 1),
                   default=protocol.CURRENT,
                   help=f"the protocol version the datanodes speak (default {protocol.CURRENT})")
    p.add_argument("--old-share", type=float, default=0,
                   help=f"share of datanodes that speak protocol {protocol.OLDEST} whatever --protocol says, as the"
                        " previous release's datanodes do during a rolling upgrade (default 0)")
    p.add_argument("--registering", type=int, default=8, help="registrations in flight at once (default 8)")
    p.add_argument("--seconds", type=float, default=20, help="steady phase after every datanode registered")
    p.add_argument("--probe-interval", type=float, default=0.02, help="seconds between /health probes")
    p.add_argument("--work", help="work directory (default: a temporary one, removed at the end)")
    p.add_argument("--out", help="write OUT.json with every figure")
    args = p.parse_args(argv)
    if args.replication + (args.over_replicated > 0) > args.datanodes:
        p.error("--replication (plus one with --over-replicated) cannot exceed --datanodes: replicas go on distinct"
                " datanodes")
    return args


class Layout:
    """Which blocks exist, which file holds each and which datanodes hold each, computed from numbers so that nothing
    the size of the namespace is kept here but the encoded reports."""

    def __init__(self, datanodes, replicas, replication, blocks_per_file, under_replicated, over_replicated=0):
        self.datanodes = datanodes
        self.replication = replication
        self.blocks_per_file = blocks_per_file
        self.blocks = max(1, replicas // replication)
        self.files = -(-self.blocks // blocks_per_file)
        self.under_every = round(1 / under_replicated) if under_replicated else 0
        self.over_every = round(1 / over_replicated) if over_replicated else 0

    @staticmethod
    def block_id(b):
        """64 hex digits, as a SHA-256 is; ascending with ``b``, so the database's indexes grow at their end while
        they are filled (random ids would rewrite every leaf page with each transaction)."""
        return f"{b:016x}" + hashlib.sha256(b.to_bytes(8, "big")).hexdigest()[16:]

    def copies(self, b):
        """Replicas of block ``b`` the datanodes report: one short for the under-replicated ones, one more for the
        over-replicated ones (if not under-replicated)."""
        if self.under_every and b % self.under_every == 0:
            return self.replication - 1
        return self.replication + (1 if self.over_every and b % self.over_every == 1 else 0)

    def blocks_of(self, node):
        """The block numbers datanode ``node`` holds: block b's replica r lives on datanode (b + r) mod N."""
        for r in range(self.replication + 1):
            for b in range((node - r) % self.datanodes, self.blocks, self.datanodes):
                if r < self.copies(b):
                    yield b

    def holds(self, node, block_id):
        """Whether datanode ``node`` holds a replica of ``block_id`` in the layout (``blocks_of`` read backwards)."""
        b = int(block_id[:16], 16)
        return (b < self.blocks and block_id == self.block_id(b)
                and any((b + r) % self.datanodes == node for r in range(self.copies(b))))

    def replicas(self):
        return sum(self.copies(b) for b in range(self.blocks))


def result_of(d):
    """The result of a Deferred that has fired (the namespace runs synchronously without a reactor)."""
    outcome = []
    d.addBoth(outcome.append)
    if isinstance(outcome[0], Failure):
        outcome[0].raiseException()
    return outcome[0]


def fill(db_path, layout, block_bytes):
    """The namespace of ``layout`` in a new SQLite database. File 0 is made through the namespace API; every other
    row copies its values (owner, group, mode, times), so the rows are what the namenode itself writes."""
    for leftover in (db_path, db_path + "-wal", db_path + "-shm"):  # of an earlier run in the same --work
        if os.path.exists(leftover):
            os.remove(leftover)
    ns = SQLiteNamespace(db_path)
    ns.open()
    try:
        def extents(f):
            first = f * layout.blocks_per_file
            return [Extent(layout.block_id(b), 0, block_bytes, block_bytes)
                    for b in range(first, min(first + layout.blocks_per_file, layout.blocks))]

        template = result_of(ns.create(path_of(0), extents(0), overwrite=False))
        parent, _ = result_of(ns.stat("/scale/d0"))
        row_of = "SELECT type, mode, owner, grp, mtime, atime, ctime FROM inodes WHERE id = ?"
        file_row, dir_row = [result_of(ns.read(lambda db, i: db.execute(row_of, (i,)).fetchone(), inode.id))
                             for inode in (template, parent)]
        first_id = result_of(ns.read(lambda db: db.execute("SELECT MAX(id) + 1 FROM inodes").fetchone()[0]))
        directories = -(-layout.files // FILES_PER_DIRECTORY)
        dir_id = {0: parent.id, **{k: first_id + k - 1 for k in range(1, directories)}}
        scale_id = result_of(ns.stat("/scale"))[0].id

        def add_directories(db):
            db.executemany("INSERT INTO inodes (id, type, mode, owner, grp, mtime, atime, ctime)"
                           " VALUES (?, ?, ?, ?, ?, ?, ?, ?)", ((dir_id[k], *dir_row) for k in range(1, directories)))
            db.executemany("INSERT INTO dirents (parent, name, inode) VALUES (?, ?, ?)",
                           ((scale_id, f"d{k}", dir_id[k]) for k in range(1, directories)))

        def add_files(db, start, stop):
            kind, mode, owner, group, mtime, atime, ctime = file_row
            files = [(f, first_id + directories - 2 + f, extents(f)) for f in range(start, stop)]  # after the dirs
            db.executemany(
                "INSERT INTO inodes (id, type, size, mode, owner, grp, mtime, atime, ctime, replication, block_size)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                ((i, kind, sum(e.length for e in ext), mode, owner, group, mtime, atime, ctime, layout.replication,
                  block_bytes) for _, i, ext in files))
            db.executemany("INSERT INTO dirents (parent, name, inode) VALUES (?, ?, ?)",
                           ((dir_id[f // FILES_PER_DIRECTORY], f"f{f}", i) for f, i, _ in files))
            db.executemany("INSERT INTO blocks (id, size) VALUES (?, ?)",
                           ((e.block_id, e.block_size) for _, _, ext in files for e in ext))
            db.executemany("INSERT INTO extents (inode, seq, block_id, block_offset, length) VALUES (?, ?, ?, ?, ?)",
                           ((i, seq, e.block_id, e.block_offset, e.length)
                            for _, i, ext in files for seq, e in enumerate(ext)))

        result_of(ns.run(add_directories))
        for start in range(1, layout.files, FILL_CHUNK):
            result_of(ns.run(add_files, start, min(start + FILL_CHUNK, layout.files)))
    finally:
        ns.stop()


def path_of(f):
    return f"/scale/d{f // FILES_PER_DIRECTORY}/f{f}"


class FakeDatanodeLink(NamenodeClient):
    """Every call a fake datanode makes to the namenode: dfs.peers' own (a registration offering the protocol
    versions, heartbeats, report pieces), and the previous protocol's two whose bodies list every block (a
    registration carrying the full report, a full report in one JSON list), sent as encoded once, so that a report
    of 10^5 blocks costs this process no JSON work."""

    def register_listing(self, registration, encoded_blocks):
        body = b'{"blocks": %s, %s' % (encoded_blocks, json.dumps(registration)[1:].encode())
        return self._request("POST", self._cluster_url(), data=body, headers=JSON)

    def block_report_listing(self, node_id, encoded_blocks):
        return self._request("PUT", self._cluster_url(node_id, "blocks"), data=b'{"blocks": %s}' % encoded_blocks,
                             headers=JSON)


async def answer_of(sent):
    """The JSON answer to the request ``sent``; RuntimeError when the namenode refused it."""
    response = await sent
    body = await response.content()
    if response.code >= 300:
        raise RuntimeError(f"{response.request.method.decode()} {response.request.absoluteURI.decode()}:"
                           f" {response.code} {body[:300]!r}")
    return json.loads(body)


class FakeDatanode:
    """One datanode's state as the namenode sees it: the protocol version it speaks, the blocks it holds (the
    layout's, less deleted, plus copied), and the changes not yet told in a heartbeat."""

    def __init__(self, index, layout, block_bytes, base_url, speaks):
        self.id = f"scale-{index:05d}"
        self.index = index
        self.url = f"{base_url}/dn/{index}"
        self.layout = layout
        self.block_bytes = block_bytes
        self.protocol = speaks
        self.copied, self.deleted = set(), set()
        self.received, self.gone = [], []  # since the last heartbeat
        self.registered = False
        self.report_due = False  # the namenode asked for a full report
        self.stores = 0
        self._ids = None
        self._encoded = {}

    def ids(self):
        """The ids of the blocks held, kept (and their encodings) until a copy or a delete changes them."""
        if self._ids is None:
            self._ids = [self.layout.block_id(b) for b in self.layout.blocks_of(self.index)
                         if self.layout.block_id(b) not in self.deleted] + sorted(self.copied)
            self._encoded = {}
        return self._ids

    def encoded_blocks(self):
        """The blocks held as the previous protocol lists them: one JSON list."""
        if "json" not in self._encoded:
            self._encoded["json"] = json.dumps(self.ids()).encode()
        return self._encoded["json"]

    def report_pieces(self):
        """The blocks held as the current protocol reports them: dfs.blockreports' pieces."""
        if "pieces" not in self._encoded:
            self._encoded["pieces"] = blockreports.pieces(self.ids())
        return self._encoded["pieces"]

    def usage(self):
        used = len(self.ids()) * self.block_bytes
        return {"capacity": used * 2 + (1 << 40), "used": used, "free": used + (1 << 40),
                "mark": f"scale:{self.stores}"}

    def holds(self, block_id):
        return block_id in self.copied or (block_id not in self.deleted and self.layout.holds(self.index, block_id))

    def take_copy(self, block_id):
        """Store a copy; whether it is new here (a real datanode copies nothing it holds)."""
        if self.holds(block_id):
            return False
        self.stores += 1
        self.copied.add(block_id)
        self.deleted.discard(block_id)
        self.received.append(block_id)
        self._ids = None
        return True

    def drop(self, block_id):
        """Delete a replica; whether it was here."""
        if not self.holds(block_id):
            return False
        self.copied.discard(block_id)
        self.deleted.add(block_id)
        self.gone.append(block_id)
        self._ids = None
        return True


class FakeDatanodeServer:
    """The block routes repair calls, for every fake datanode at once (``/dn/<index>/blocks/...``), answered as a
    datanode of the node's protocol version answers after doing the work: one block a request, and for the current
    protocol also batches of copies (``POST /blocks/fetch``) and of deletes (``POST /blocks/delete``), which the
    previous release's datanodes do not know (404: repair then falls back to one request a block)."""

    app = Klein()

    def __init__(self, nodes):
        self.nodes = nodes
        self.copies = self.deletes = 0
        self.requests = Counter()  # by route

    def resource(self):
        return self.app.resource()

    @app.route("/dn/<int:index>/blocks/<block_id>/fetch", methods=["POST"])
    def fetch(self, request, index, block_id):
        self.requests["fetch one"] += 1
        copied = self._copy(index, block_id)
        request.setResponseCode(201 if copied["copied"] else 200)
        return self._json(request, copied)

    @app.route("/dn/<int:index>/blocks/fetch", methods=["POST"])
    def fetch_many(self, request, index):
        if self.nodes[index].protocol < protocol.REPORTS_IN_PIECES:
            return self._no_route(request)
        self.requests["fetch batch"] += 1
        return self._json(request, {"blocks": [self._copy(index, str(block_id))
                                               for block_id in read_json(request)["blocks"]]})

    def _copy(self, index, block_id):
        node = self.nodes[index]
        copied = node.take_copy(block_id)
        self.copies += copied
        return {"id": block_id, "copied": copied, "length": node.block_bytes}

    @app.route("/dn/<int:index>/blocks/<block_id>", methods=["DELETE"])
    def delete(self, request, index, block_id):
        self.requests["delete one"] += 1
        self.deletes += self.nodes[index].drop(block_id)
        return self._json(request, {"id": block_id, "length": self.nodes[index].block_bytes})

    @app.route("/dn/<int:index>/blocks/delete", methods=["POST"])
    def delete_many(self, request, index):
        node = self.nodes[index]
        if node.protocol < protocol.REPORTS_IN_PIECES:
            return self._no_route(request)
        self.requests["delete batch"] += 1
        asked = blockreports.decode(request.content.read())
        missing = [block_id for block_id in asked if not node.drop(block_id)]
        self.deletes += len(asked) - len(missing)
        return self._json(request, {"deleted": (len(asked) - len(missing)) * node.block_bytes, "kept": [],
                                    "missing": missing})

    @app.route("/dn/<int:index>/blocks/format", methods=["POST"])
    def format(self, request, index):
        return self._json(request, {})

    def _no_route(self, request):
        self.requests["batch refused (404)"] += 1
        request.setResponseCode(404)
        return self._json(request, {})

    @staticmethod
    def _json(request, body):
        request.setHeader(b"Content-Type", b"application/json")
        return json.dumps(body).encode()


def probe(url, interval, stop, out_path):
    """Times GET /health on one kept-alive connection until ``stop`` is set; writes "start latency" lines. Runs in
    its own process, so the harness's own work does not count as the namenode's stalls."""
    host, port = url.split("//")[1].split(":")
    connection = HTTPConnection(host, int(port), timeout=600)
    with open(out_path, "w") as out:
        while not stop.is_set():
            started = time.monotonic()
            connection.request("GET", "/health")
            connection.getresponse().read()
            out.write(f"{time.time():.4f} {time.monotonic() - started:.6f}\n")
            out.flush()
            time.sleep(interval)


async def first_line(reactor, path, timeout=300):
    """Until the probe has timed its first answer (a spawned Python takes seconds to start on a loaded machine)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path) and os.path.getsize(path) > 0:
            return
        await task.deferLater(reactor, 0.1, lambda: None)
    raise RuntimeError(f"the /health probe timed nothing in {timeout} s")


class Sampler:
    """The namenode's CPU seconds and RSS, read from /proc every half second (the peak RSS is kept)."""

    def __init__(self, pid, clock):
        self.pid = pid
        self.peak_rss = 0
        self.series = []  # (wall time, CPU seconds), to tell the CPU a stall took from the time it lasted
        self._loop = task.LoopingCall(self.sample)
        self._loop.clock = clock

    def start(self):
        self._loop.start(0.5)

    def stop(self):
        if self._loop.running:
            self._loop.stop()

    def sample(self):
        self.peak_rss = max(self.peak_rss, rss_bytes(self.pid))
        cpu = cpu_seconds(self.pid)
        self.series.append((time.time(), cpu))
        return cpu, time.monotonic()


class Bench:
    """One run: the datanodes' lives against the namenode at ``url`` (pid ``pid``), and what was measured."""

    def __init__(self, reactor, args, layout, url, pid):
        self.reactor, self.args, self.layout, self.url, self.pid = reactor, args, layout, url, pid
        # dfs's own client, with a datanode's timeouts; each datanode keeps its connection
        self.http, self.pool = make_http(reactor, connections_per_host=args.datanodes + args.registering)
        self.link = FakeDatanodeLink(self.http, url)
        self.nodes = []
        self.server = FakeDatanodeServer(self.nodes)
        self.figures = {}
        self.report_seconds = {"registration": [], "periodic": []}
        self.heartbeat_seconds = []
        self.failures = []
        self.registrations_again = 0
        self._beats = []

    async def run(self):
        port = await TCP4ServerEndpoint(self.reactor, 0, interface="127.0.0.1").listen(Site(self.server.resource()))
        base = f"http://127.0.0.1:{port.getHost().port}"
        old_every = round(1 / self.args.old_share) if self.args.old_share else 0
        self.nodes.extend(FakeDatanode(i, self.layout, self.args.block_bytes, base,
                                       protocol.OLDEST if old_every and i % old_every == 0 else self.args.protocol)
                          for i in range(self.args.datanodes))
        sampler = Sampler(self.pid, self.reactor)
        sampler.start()
        try:
            await self._until(lambda s: s["safemode"]["reason"] != "reading the namespace", "the namespace read")
            await self._until(lambda s: s["totals"]["blocks"] == self.layout.blocks, "a first repair pass")
            self.figures["rss_with_files"] = rss_bytes(self.pid)
            progress(f"namespace loaded: RSS {self.figures['rss_with_files'] / 2**20:.0f} MiB")
            cpu0, own0 = sampler.sample(), _own_cpu()
            started = time.time()
            await self._register_all()
            self.figures["register_all_seconds"] = time.time() - started
            progress(f"{len(self.nodes)} datanodes registered in {self.figures['register_all_seconds']:.1f} s,"
                     f" slowest {max(self.report_seconds['registration']):.2f} s")
            await self._until(lambda s: not s["totals"]["safemode"], "safe mode to end")
            self.figures["safemode_off_after_seconds"] = time.time() - started
            progress(f"out of safe mode after {self.figures['safemode_off_after_seconds']:.1f} s")
            cpu1 = sampler.sample()
            self.figures["phases"] = {"registration": (started, time.time())}
            steady = time.time()
            for node in self.nodes:
                self._start_beating(node)
            await task.deferLater(self.reactor, self.args.seconds, lambda: None)
            # The phase ends once the namenode answers again: a repair pass under way when the time is up counts.
            self.figures["status"] = (await self._status())["totals"]
            cpu2, own2 = sampler.sample(), _own_cpu()
            self.figures["phases"]["steady"] = (steady, time.time())
            self.figures["phases"]["all"] = (started, time.time())
            self.figures["harness_cpu_share"] = _share(own0, own2)
            self.figures["rss_with_replicas"] = rss_bytes(self.pid)
            self.figures["rss_peak"] = sampler.peak_rss
            self.figures["cpu_series"] = sampler.series
            self.figures["cpu_share_registration"] = _share(cpu0, cpu1)
            self.figures["cpu_share_steady"] = _share(cpu1, cpu2)
            self.figures["cpu_seconds_registration"] = cpu1[0] - cpu0[0]
            self.figures["cpu_seconds_steady"] = cpu2[0] - cpu1[0]
        finally:
            for loop in self._beats:
                if loop.running:
                    loop.stop()
            sampler.stop()
            await port.stopListening()
            await self.pool.closeCachedConnections()
        self.figures["registrations_again"] = self.registrations_again
        self.figures["copies_answered"] = self.server.copies
        self.figures["deletes_answered"] = self.server.deletes
        self.figures["block_requests"] = dict(self.server.requests)
        self.figures["protocols"] = dict(Counter(node.protocol for node in self.nodes))
        (self.figures["reactor_lag_histogram"], self.figures["reactor_held_histogram"],
         self.figures["gc_pause_histograms"]) = await self._pause_histograms()

    async def _register_all(self):
        queue = iter(self.nodes)

        async def worker():
            for node in queue:
                await self._register(node)

        await defer.gatherResults([defer.Deferred.fromCoroutine(worker()) for _ in range(self.args.registering)])

    def _start_beating(self, node):
        """Heartbeats on the node's own clock, spread over one interval; a full report every --report-every beats,
        the nodes' reports spread over that many beats."""
        beats = iter(range(node.index % self.args.report_every + 1, 1 << 62))

        def failed(failure):
            node.registered = False
            self.failures.append(failure.getErrorMessage())

        def beat():
            return defer.Deferred.fromCoroutine(self._beat(node, next(beats))).addErrback(failed)

        loop = task.LoopingCall(beat)
        loop.clock = self.reactor
        self._beats.append(loop)
        delay = self.args.heartbeat * node.index / len(self.nodes)
        self.reactor.callLater(delay, loop.start, self.args.heartbeat)

    async def _register(self, node):
        """Register as a datanode of the node's protocol does: with the full report in the registration (1), or
        offering the versions and then sending the full report in pieces (2)."""
        started = time.monotonic()
        registration = {"id": node.id, "url": node.url, "public_url": node.url, "version": "scale-bench",
                        **node.usage()}
        node.received, node.gone = [], []  # the full report holds them
        if node.protocol < protocol.REPORTS_IN_PIECES:
            await answer_of(self.link.register_listing(registration, node.encoded_blocks()))
        else:
            answer = await answer_of(self.link.register({**registration, **protocol.offered()}))
            if protocol.agreed(self.url, answer) != node.protocol:
                raise RuntimeError(f"the namenode agreed to protocol {answer[protocol.FIELD]}, not {node.protocol}")
            await self._report_in_pieces(node)
        node.registered = True
        self.report_seconds["registration"].append(time.monotonic() - started)

    async def _report_in_pieces(self, node):
        node.report_due = False
        report_id, pieces = uuid.uuid4().hex, node.report_pieces()
        for number, piece in enumerate(pieces):
            await answer_of(self.link.report_piece(node.id, report_id, number, len(pieces), piece))

    async def _beat(self, node, n):
        started = time.monotonic()
        if not node.registered:  # as dfs.datanode.heartbeat does after any failed call
            self.registrations_again += 1
            await self._register(node)
        elif node.protocol < protocol.REPORTS_IN_PIECES:  # a full report instead of every --report-every'th beat
            if n % self.args.report_every == 0:
                await answer_of(self.link.block_report_listing(node.id, node.encoded_blocks()))
                self.report_seconds["periodic"].append(time.monotonic() - started)
            else:
                received, node.received = node.received, []
                await answer_of(self.link.heartbeat(node.id, {**node.usage(), "received": received}))
                self.heartbeat_seconds.append(time.monotonic() - started)
        else:  # as dfs.datanode.heartbeat.NamenodeLink: a full report when due, then the heartbeat
            if node.report_due or n % self.args.report_every == 0:
                await self._report_in_pieces(node)
                self.report_seconds["periodic"].append(time.monotonic() - started)
                started = time.monotonic()
            (received, node.received), (gone, node.gone) = (node.received, []), (node.gone, [])
            answer = await answer_of(self.link.heartbeat(node.id, {**node.usage(), "received": received,
                                                                   "deleted": gone}))
            node.report_due = node.report_due or answer.get("full_report", False)
            self.heartbeat_seconds.append(time.monotonic() - started)

    async def _status(self, tries=10):
        """/cluster; a namenode too busy to accept the connection is asked again."""
        for _ in range(tries - 1):
            try:
                response = await self.http.get(f"{self.url}/cluster", timeout=600)
                return await response.json()
            except ConnectError:
                await task.deferLater(self.reactor, 1, lambda: None)
        response = await self.http.get(f"{self.url}/cluster", timeout=600)
        return await response.json()

    async def _until(self, predicate, what, timeout=3600):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(await self._status()):
                return
            await task.deferLater(self.reactor, 0.2, lambda: None)
        raise RuntimeError(f"timed out waiting for {what}")

    async def _pause_histograms(self):
        """The namenode's dfs_reactor_lag_seconds and dfs_reactor_held_cpu_seconds buckets {upper bound: cumulative
        count}, and its dfs_gc_pause_seconds buckets by generation {generation: {upper bound: cumulative count}}."""
        response = await self.http.get(f"{self.url}/metrics", timeout=600)
        lag, held, gc_pauses = {}, {}, {}
        for line in (await response.content()).decode().splitlines():
            count = float(line.rsplit(" ", 1)[1]) if line.startswith("dfs_") else None
            if line.startswith(LAG_METRIC):
                lag[_label(line, "le")] = count
            elif line.startswith(HELD_METRIC):
                held[_label(line, "le")] = count
            elif line.startswith(GC_METRIC):
                gc_pauses.setdefault(_label(line, "generation"), {})[_label(line, "le")] = count
        return lag, held, gc_pauses


def _label(line, name):
    return line.split(f'{name}="')[1].split('"')[0]


def progress(text):
    """A line on stderr while the run goes on (stdout has only the figures, at the end)."""
    print(f"{time.strftime('%H:%M:%S')} {text}", file=sys.stderr, flush=True)


def _own_cpu():
    times = os.times()
    return times.user + times.system, time.monotonic()


def _share(before, after):
    """CPU seconds per wall second between two samples."""
    return (after[0] - before[0]) / (after[1] - before[1])


def start_namenode(work, name, db_path):
    return Process("dfs-namenode", ["--listen", "tcp:0:interface=127.0.0.1", "--db", db_path,
                                    "--history-retention", "0", "--lag-probe-interval", str(PROBE_INTERVAL),
                                    "--stall-trace", str(STALL)],
                   os.path.join(work, f"{name}.log")).start()


def empty_namenode_rss(work):
    """RSS of a namenode of this checkout on an empty namespace, once it answers and has run a repair pass."""
    namenode = start_namenode(work, "empty-namenode", os.path.join(work, "empty.sqlite"))
    try:
        connection = HTTPConnection("127.0.0.1", namenode.port, timeout=60)
        connection.request("GET", "/cluster")
        connection.getresponse().read()
        connection.close()
        time.sleep(1)
        return rss_bytes(namenode.pid)
    finally:
        namenode.stop()


def stall_figures(samples, phases):
    """p50, p99 and max of the probe's answers in each phase, and how many took longer than STALL."""
    figures = {}
    for name, (start, end) in phases.items():
        latencies = sorted(latency for at, latency in samples if start <= at <= end)
        if latencies:
            figures[name] = {"probes": len(latencies), "p50": percentile(latencies, 0.5),
                             "p99": percentile(latencies, 0.99), "max": latencies[-1],
                             "over_50ms": sum(latency > STALL for latency in latencies)}
    return figures


def longest_stall_cpu(samples, series):
    """The namenode's CPU seconds around the longest probe answer (from the last CPU sample before it to the first
    after it): on a loaded machine a stall lasts longer than the work in it."""
    at, longest = max(samples, key=lambda sample: sample[1])
    before = max((s for s in series if s[0] <= at - longest), default=series[0])
    after = min((s for s in series if s[0] >= at), default=series[-1])
    return after[1] - before[1]


def stall_places(namenode_log):
    """The namenode's stall traces (--stall-trace) in which the reactor's thread worked STALL or more of CPU, by the
    place its stack was seen most in each: [(place, (stalls, total ms of CPU, longest))], the most stalls first."""
    places = {}
    for match in STALL_LINE.finditer(namenode_log):
        ms, place = float(match["cpu_ms"]), match["first"]
        if ms < STALL * 1000:
            continue
        count, total, longest = places.get(place, (0, 0.0, 0.0))
        places[place] = (count + 1, total + ms, max(longest, ms))
    return sorted(places.items(), key=lambda item: -item[1][0])


def summary(figures, layout):
    """The lines printed at the end: one figure a line, ``name: value``."""
    lines = {
        "datanodes": layout.datanodes,
        "protocols": " ".join(f"{version}:{count}" for version, count in sorted(figures["protocols"].items())),
        "files": layout.files,
        "blocks": layout.blocks,
        "replicas": figures["replicas"],
        "fill_seconds": round(figures["fill_seconds"], 1),
        "namenode_cpu_share_registration": round(figures["cpu_share_registration"], 3),
        "namenode_cpu_share_steady": round(figures["cpu_share_steady"], 3),
        "namenode_cpu_seconds_registration": round(figures["cpu_seconds_registration"], 2),
        "namenode_cpu_seconds_steady": round(figures["cpu_seconds_steady"], 2),
        "harness_cpu_share": round(figures["harness_cpu_share"], 3),
        "rss_empty_mib": round(figures["rss_empty"] / 2**20, 1),
        "rss_with_files_mib": round(figures["rss_with_files"] / 2**20, 1),
        "rss_with_replicas_mib": round(figures["rss_with_replicas"] / 2**20, 1),
        "rss_peak_mib": round(figures["rss_peak"] / 2**20, 1),
        "bytes_per_file": round((figures["rss_with_files"] - figures["rss_empty"]) / layout.files),
        "bytes_per_replica": round((figures["rss_with_replicas"] - figures["rss_with_files"]) / figures["replicas"]),
        "register_all_seconds": round(figures["register_all_seconds"], 2),
        "safemode_off_after_seconds": round(figures["safemode_off_after_seconds"], 2),
    }
    for kind, seconds in figures["report_seconds"].items():
        if seconds:
            lines[f"full_report_{kind}_p50_s"] = round(statistics.median(seconds), 3)
            lines[f"full_report_{kind}_max_s"] = round(max(seconds), 3)
    lines["heartbeats_answered"] = len(figures["heartbeat_seconds"])
    if figures["heartbeat_seconds"]:
        lines["heartbeat_p99_s"] = round(percentile(sorted(figures["heartbeat_seconds"]), 0.99), 3)
        lines["heartbeat_max_s"] = round(max(figures["heartbeat_seconds"]), 3)
    lines["stall_longest_namenode_cpu_s"] = round(figures["longest_stall_cpu"], 2)
    for phase, stalls in figures["stalls"].items():
        for key in ("p99", "max"):
            lines[f"stall_{phase}_{key}_s"] = round(stalls[key], 3)
        lines[f"stall_{phase}_over_50ms"] = stalls["over_50ms"]
    histogram = figures["reactor_lag_histogram"]
    if histogram:
        lines["reactor_lag_timers_over_50ms"] = int(histogram["+Inf"] - histogram.get("0.05", 0))
    held = figures.get("reactor_held_histogram")
    if held:
        lines["reactor_held_cpu_over_10ms_25ms_50ms_100ms"] = " ".join(
            str(int(held["+Inf"] - held.get(bound, 0))) for bound in ("0.01", "0.025", "0.05", "0.1"))
    for generation, buckets in sorted(figures.get("gc_pause_histograms", {}).items()):
        lines[f"gc{generation}_pauses_all_over_10ms_over_50ms"] = (
            f"{int(buckets['+Inf'])} {int(buckets['+Inf'] - buckets.get('0.01', 0))}"
            f" {int(buckets['+Inf'] - buckets.get('0.05', 0))}")
    for rank, (place, (count, total, longest)) in enumerate(figures["stall_places"][:STALL_PLACES_SHOWN]):
        lines[f"stall_place_{rank}_count_total_max_cpu_ms"] = f"{count} {total:.0f} {longest:.0f} {place}"
    lines["copies_answered"] = figures["copies_answered"]
    lines["deletes_answered"] = figures["deletes_answered"]
    lines["block_requests"] = " ".join(f"{route.replace(' ', '_')}:{count}"
                                       for route, count in sorted(figures["block_requests"].items()))
    lines["failures"] = len(figures["failures"])
    lines["registrations_again"] = figures["registrations_again"]
    lines["load_average_before_after"] = f"{figures['load_before'][0]:.1f} {figures['load_after'][0]:.1f}"
    return lines


def main(argv=None):
    args = parse_args(argv)
    task.react(lambda reactor: defer.Deferred.fromCoroutine(run(reactor, args)))


async def run(reactor, args):
    layout = Layout(args.datanodes, args.replicas, args.replication, args.blocks_per_file, args.under_replicated,
                    args.over_replicated)
    work = args.work or tempfile.mkdtemp(prefix="dfs-scale-bench-")
    os.makedirs(work, exist_ok=True)
    figures = {"args": vars(args), "replicas": layout.replicas(), "load_before": os.getloadavg()}
    try:
        figures["rss_empty"] = empty_namenode_rss(work)  # blocking calls here are fine: nothing runs yet
        began = time.monotonic()
        db_path = os.path.join(work, "namenode.sqlite")
        fill(db_path, layout, args.block_bytes)
        figures["fill_seconds"] = time.monotonic() - began
        progress(f"filled {layout.files} files, {layout.blocks} blocks in {figures['fill_seconds']:.0f} s")
        namenode = start_namenode(work, "namenode", db_path)
        spawn = multiprocessing.get_context("spawn")
        stop, probe_path = spawn.Event(), os.path.join(work, "probe.txt")
        prober = spawn.Process(target=probe, args=(namenode.url, args.probe_interval, stop, probe_path))
        try:
            bench = Bench(reactor, args, layout, namenode.url, namenode.pid)
            prober.start()
            await first_line(reactor, probe_path)
            await bench.run()
        finally:
            stop.set()
            if prober.pid is not None:
                prober.join(60)
            namenode.stop()
        figures["stall_places"] = stall_places(namenode.log())
        with open(probe_path) as f:
            samples = [tuple(map(float, line.split())) for line in f if line.strip()]
        figures.update(bench.figures, report_seconds=bench.report_seconds, heartbeat_seconds=bench.heartbeat_seconds,
                       failures=bench.failures, stalls=stall_figures(samples, bench.figures["phases"]),
                       longest_stall_cpu=longest_stall_cpu(samples, bench.figures["cpu_series"]))
        figures["load_after"] = os.getloadavg()
        printed = summary(figures, layout)
        for name, value in printed.items():
            print(f"{name}: {value}", flush=True)
        if args.out:  # the printed figures, and the raw ones except the longest lists
            write_json(args.out, {**figures, "printed": printed, "heartbeat_seconds": len(figures["heartbeat_seconds"]),
                                  "failures": dict(Counter(f[:120] for f in figures["failures"]))})
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
