"""Prometheus metrics of one dfs process: a private registry, per-request instruments, and gauges read at scrape time.

Every name starts with ``dfs_`` and is in base units (bytes, seconds). Labels are operations, status codes, node ids
and states, never a path or a block id, so the number of series stays small however the namespace grows.
"""

import gc
import time
from collections import Counter as Tally

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from twisted.application import service

from dfs.stalltrace import StallTracer

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
FAST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

# Requests whose body (uploads) or answer (reads) is file data; they feed the throughput counters.
UPLOAD_OPS = frozenset({"CREATE", "APPEND", "upload", "upload_batch"})
READ_OPS = frozenset({"OPEN", "serve_block"})

# The classic text format every Prometheus reads; our names need none of the newer format's escaping.
CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"
NODE_STATES = ("alive", "stale", "dead")
BLOCK_PROBLEMS = ("under_replicated", "over_replicated", "missing", "corrupt")


class Metrics:
    """The instruments both roles have. A role's subclass adds the gauges it reads from its own state."""

    def __init__(self):
        disable_created_metrics()  # a *_created series per counter doubles the output and tells nothing here
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        self.requests = Counter("dfs_http_requests_total", "HTTP requests answered, by operation and status code.",
                                ["op", "code"], registry=self.registry)
        self.latency = Histogram("dfs_http_request_duration_seconds",
                                 "Time from a request's headers to its last response byte, by operation and status.",
                                 ["op", "code"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.received = Counter("dfs_http_request_bytes_total", "Request body bytes received, by operation.",
                                ["op"], registry=self.registry)
        self.sent = Counter("dfs_http_response_bytes_total", "Response body bytes sent, by operation.",
                            ["op"], registry=self.registry)
        self.uploaded = Counter("dfs_upload_bytes_total",
                                "File bytes received for storage (namenode: CREATE/APPEND bodies; datanode: blocks).",
                                registry=self.registry)
        self.read = Counter("dfs_read_bytes_total", "File bytes sent to readers (OPEN answers and block reads).",
                            registry=self.registry)
        self.reactor_lag = Histogram("dfs_reactor_lag_seconds",
                                     "How late a timer ran: time the reactor was busy with something else.",
                                     buckets=FAST_BUCKETS, registry=self.registry)
        self.reactor_held = Histogram("dfs_reactor_held_cpu_seconds",
                                      "CPU the event loop's thread used between two ticks of the lag probe.",
                                      buckets=FAST_BUCKETS, registry=self.registry)
        self.gc_pauses = Histogram("dfs_gc_pause_seconds",
                                   "How long Python's cyclic garbage collector held the process, by generation.",
                                   ["generation"], buckets=FAST_BUCKETS, registry=self.registry)
        self.registry.register(self)
        self._request_series = {}  # (op, code) -> its series of the four per-request instruments

    def observe_request(self, op, code, seconds, bytes_in, bytes_out):
        series = self._request_series.get((op, code))
        if series is None:  # finding a series by its labels costs more than the update: once per (op, code)
            series = self._request_series[op, code] = (
                self.requests.labels(op, str(code)), self.latency.labels(op, str(code)), self.received.labels(op),
                self.sent.labels(op))
        requests, latency, received, sent = series
        requests.inc()
        latency.observe(seconds)
        received.inc(bytes_in)
        sent.inc(bytes_out)
        if op in UPLOAD_OPS:
            self.uploaded.inc(bytes_in)
        if op in READ_OPS:
            self.read.inc(bytes_out)

    def probes(self, reactor, interval=1.0, stall_trace=0.0):
        """The services that measure the process's pauses: the reactor's lag and the garbage collector's; and with
        ``stall_trace`` seconds, a log of where the reactor was whenever the lag passed them (which calls back into
        ``reactor`` from its own thread)."""
        probes = service.MultiService()
        lag = ReactorLagProbe(reactor, self.reactor_lag.observe, interval, self.reactor_held.observe)
        lag.setServiceParent(probes)
        GcPauseProbe([self.gc_pauses.labels(str(g)) for g in range(3)]).setServiceParent(probes)
        if stall_trace > 0:
            StallTracer(reactor, lag.late, stall_trace).setServiceParent(probes)
        return probes

    async def refresh(self):
        """Gather what ``collect`` reports; roles whose state needs a database query override this."""

    def collect(self):
        return []

    async def render(self, request):
        """The ``/metrics`` answer in the Prometheus text format."""
        await self.refresh()
        request.setHeader(b"Content-Type", CONTENT_TYPE)
        return generate_latest(self.registry)


class NamenodeMetrics(Metrics):
    """Adds the cluster as ``/cluster`` describes it (one source of truth) and the namespace database's timing."""

    def __init__(self, cluster_status, fanout, store):
        super().__init__()
        self.cluster_status = cluster_status
        self.fanout = fanout
        self.status = None
        self.transactions = Histogram("dfs_sqlite_transaction_seconds",
                                      "Duration of committed namespace transactions, BEGIN to COMMIT (fsync included).",
                                      buckets=FAST_BUCKETS, registry=self.registry)
        store.observe_transaction = self.transactions.observe
        self.conflicts = Counter("dfs_namespace_conflicts_total",
                                 "Namespace changes the database refused as conflicting with concurrent ones, each"
                                 " then run again (PostgreSQL's SERIALIZABLE; never on SQLite).", registry=self.registry)
        store.observe_retry = lambda error: self.conflicts.inc()

    async def refresh(self):
        self.status = await self.cluster_status()

    def collect(self):
        if self.status is None:
            return
        nodes, totals = self.status["nodes"], self.status["totals"]
        yield _by_label("dfs_datanodes", "Datanodes by state.", "state", NODE_STATES, Tally(n["state"] for n in nodes))
        for key in ("capacity", "used", "free"):
            yield GaugeMetricFamily(f"dfs_{key}_bytes", f"Sum of the {key} bytes of datanodes that are not dead.",
                                    value=totals[key])
        for key, help_text in (("capacity", "Bytes a datanode offers."), ("used", "Bytes of blocks on a datanode."),
                               ("free", "Bytes a datanode can still take.")):
            yield _per_node(f"dfs_datanode_{key}_bytes", help_text, nodes, key)
        yield _per_node("dfs_datanode_blocks", "Block replicas a datanode reported.", nodes, "blocks")
        yield _per_node("dfs_datanode_heartbeat_age_seconds", "Seconds since a datanode's last heartbeat.", nodes,
                        "last_heartbeat")
        draining = [n for n in nodes if "decommission_pending" in n and n["state"] == "decommissioning"]
        yield _per_node("dfs_decommission_pending_blocks",
                        "Blocks a decommissioning datanode holds that are not yet replicated elsewhere.",
                        draining, "decommission_pending")
        replicas = Tally()
        for node in nodes:
            replicas[node["state"]] += node["blocks"]
        yield _by_label("dfs_replicas", "Block replicas by the state of the datanode holding them.", "state",
                        NODE_STATES, replicas)
        blocks = {key: totals.get(key, 0) for key in BLOCK_PROBLEMS}
        blocks["healthy"] = max(0, totals.get("blocks", 0) - sum(blocks.values()))
        blocks["orphan"] = totals.get("orphans", 0)
        yield _by_label("dfs_blocks", "Blocks by replication state (orphan: held by datanodes, referenced by no file).",
                        "state", (), blocks)
        yield from _scalars(CLUSTER_SCALARS, totals)
        backup = self.status.get("backup")
        if backup is not None:
            last = backup["last"] or {"at": 0, "bytes": 0, "seconds": 0}
            yield GaugeMetricFamily("dfs_backup_last_timestamp_seconds",
                                    "When the newest backup of the namespace began (0: none yet).",
                                    value=last["at"])
            yield GaugeMetricFamily("dfs_backup_last_bytes", "Size of that backup.", value=last["bytes"])
            yield GaugeMetricFamily("dfs_backup_last_duration_seconds",
                                    "How long it took (0: taken before this start).", value=last["seconds"] or 0)
            yield CounterMetricFamily("dfs_backup_failures_total", "Backups of the namespace that failed.",
                                      value=backup["failures"])
        yield CounterMetricFamily("dfs_stored_block_bytes_total",
                                  "Bytes of blocks the write fan-out stored (once per block, not per replica).",
                                  value=self.fanout.bytes_written)


class DatanodeMetrics(Metrics):
    """Adds the block store and scrubber, read from the same status the datanode's page shows."""

    def __init__(self, node_status):
        super().__init__()
        self.node_status = node_status

    def collect(self):
        status = self.node_status()
        yield GaugeMetricFamily("dfs_blockstore_blocks", "Blocks stored on this datanode.", value=status["blocks"])
        for key in ("capacity", "used", "free"):
            yield GaugeMetricFamily(f"dfs_blockstore_{key}_bytes", f"This datanode's {key} bytes.", value=status[key])
        if status.get("scrubber"):
            yield from _scalars(SCRUBBER_SCALARS, status["scrubber"])


# Metrics that are one number of a status dict: (family, name, help, key in the dict).
CLUSTER_SCALARS = (
    (GaugeMetricFamily, "dfs_files", "Files in the namespace.", "files"),
    (GaugeMetricFamily, "dfs_rereplication_queue_blocks", "Under-replicated blocks waiting for copies.",
     "under_replicated"),
    (GaugeMetricFamily, "dfs_rereplication_in_flight_blocks", "Blocks being copied to new replicas now.",
     "copies_in_flight"),
    (CounterMetricFamily, "dfs_rereplication_copies_total", "Replicas re-created by repair.", "copies_done"),
    (CounterMetricFamily, "dfs_gc_deletions_total", "Replicas deleted by repair (extra or unreferenced).",
     "deletions_done"),
    (GaugeMetricFamily, "dfs_safemode", "1 while the namenode is in safe mode.", "safemode"),
    (GaugeMetricFamily, "dfs_namespace_unreachable_inodes",
     "Inodes no path reaches (orphaned, under a file or in a cycle): the namespace is corrupt, see dfs fsck.",
     "unreachable_inodes"),
)
SCRUBBER_SCALARS = (
    (CounterMetricFamily, "dfs_scrubber_checked_blocks_total", "Blocks re-hashed by the scrubber.", "checked"),
    (CounterMetricFamily, "dfs_scrubber_corrupt_blocks_total", "Blocks the scrubber found corrupt.", "corrupt"),
    (CounterMetricFamily, "dfs_scrubber_passes_total", "Completed scrubber passes over every block.", "passes"),
    (GaugeMetricFamily, "dfs_scrubber_position_blocks", "Blocks checked so far in the current pass.", "position"),
    (GaugeMetricFamily, "dfs_scrubber_pass_blocks", "Blocks the current scrubber pass covers.", "total"),
)


def _scalars(table, status):
    for family, name, help_text, key in table:
        yield family(name, help_text, value=float(status.get(key) or 0))


def _by_label(name, help_text, label, always, counts):
    family = GaugeMetricFamily(name, help_text, labels=[label])
    for value in sorted(set(always) | set(counts)):
        family.add_metric([value], counts.get(value, 0))
    return family


def _per_node(name, help_text, nodes, key):
    family = GaugeMetricFamily(name, help_text, labels=["node"])
    for node in nodes:
        family.add_metric([node["id"]], node[key])
    return family


class ReactorLagProbe(service.Service):
    """Asks for a call every ``interval`` seconds and records how late it came, a measure of a blocked reactor that a
    busy machine lengthens too; and (``observe_cpu``) the CPU the reactor's thread used since the last call, which
    it does not: with an interval of a few milliseconds, the longest stretches of work the reactor did without a
    break, on a loaded machine as on an idle one."""

    def __init__(self, clock, observe, interval=1.0, observe_cpu=None):
        self.clock = clock
        self.observe = observe
        self.observe_cpu = observe_cpu
        self.interval = interval
        self._due = None
        self._cpu = None
        self._call = None

    def startService(self):
        super().startService()
        self._schedule()

    def _schedule(self):
        self._due = self.clock.seconds() + self.interval
        self._cpu = time.thread_time()
        self._call = self.clock.callLater(self.interval, self._tick)

    def late(self):
        """How overdue the next tick is now (negative before it is due); safe to ask from another thread."""
        due = self._due
        return float("-inf") if due is None else self.clock.seconds() - due

    def _tick(self):
        self.observe(max(0.0, self.clock.seconds() - self._due))
        if self.observe_cpu is not None:
            self.observe_cpu(time.thread_time() - self._cpu)
        self._schedule()

    def stopService(self):
        super().stopService()
        if self._call is not None and self._call.active():
            self._call.cancel()


class GcPauseProbe(service.Service):
    """Times each run of Python's cyclic collector (gc.callbacks): at millions of objects one full collection can
    hold the reactor longer than any request, and the reactor's lag alone does not say why.

    At start it also moves what start-up built (modules, classes, functions: some 50,000 objects, there for the
    process's life) out of the collector's reach with ``gc.freeze``: a full collection walked them all, 30-60 ms
    each time on this project's 2-core machine, whatever the cluster's size."""

    def __init__(self, by_generation):
        self.by_generation = by_generation  # one histogram series per generation, 0 to 2
        self._started = None

    def startService(self):
        super().startService()
        gc.collect()  # what start-up left as garbage is freed, not frozen
        gc.freeze()
        gc.callbacks.append(self._callback)

    def _callback(self, phase, info):
        if phase == "start":
            self._started = time.perf_counter()
        elif self._started is not None:
            self.by_generation[info["generation"]].observe(time.perf_counter() - self._started)
            self._started = None

    def stopService(self):
        super().stopService()
        gc.callbacks.remove(self._callback)
        gc.unfreeze()
