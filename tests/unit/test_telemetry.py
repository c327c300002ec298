"""Metrics, request logs, JSON logs and the status pages, in memory: Klein apps, a Site on a StringTransport, a Clock."""

import gc
import json
import threading
import time
from collections import Counter

import pytest
import pytest_twisted
from prometheus_client.parser import text_string_to_metric_families
from treq.testing import StubTreq
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import LogLevel, Logger, capturedLogs, formatEvent, formatEventAsClassicLogText
from twisted.python import usage
from twisted.python.failure import Failure

from dfs import logs
from dfs.datanode.app import DatanodeApp
from dfs.datanode.blockstore import BlockStore
from dfs.errors import NoSpace
from dfs.metrics import GcPauseProbe, Metrics, ReactorLagProbe
from dfs.namenode.tap import NamenodeOptions
from dfs.peers import NamenodeClient
from dfs.stalltrace import StallTracer, log_stall
from dfs.web import QuietSite

BASE = "http://nn"


@pytest.fixture
def namenode(namenode_app):
    namenode_app.registry.register("n1", "http://n1", "http://pub-n1", 1000, 100, 800, [])
    return namenode_app


def samples(text):
    """{(name, frozenset(labels)): value} of a Prometheus text answer."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def serve(site, raw):
    """Feed one raw HTTP request to ``site`` and return the raw answer."""
    protocol = site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000))
    transport = StringTransport()
    protocol.makeConnection(transport)
    protocol.dataReceived(raw)
    return transport.value()


@pytest_twisted.ensureDeferred
async def test_cluster_counts_files_and_metrics_describe_the_same_cluster(namenode):
    await namenode.store.mkdirs("/d")
    await namenode.store.create("/d/a", [], overwrite=False)
    await namenode.store.create("/d/b", [], overwrite=False)
    http = StubTreq(namenode.resource())
    status = await (await http.get(BASE + "/cluster")).json()
    assert status["totals"]["files"] == 2
    response = await http.get(BASE + "/metrics")
    assert response.headers.getRawHeaders("content-type")[0].startswith("text/plain; version=0.0.4")
    values = samples((await response.content()).decode())
    assert values[("dfs_files", frozenset())] == 2
    assert values[("dfs_datanodes", frozenset({("state", "alive")}))] == 1
    assert values[("dfs_datanodes", frozenset({("state", "dead")}))] == 0
    assert values[("dfs_capacity_bytes", frozenset())] == status["totals"]["capacity"] == 1000
    assert values[("dfs_datanode_used_bytes", frozenset({("node", "n1")}))] == 100
    assert values[("dfs_safemode", frozenset())] == int(status["totals"]["safemode"])
    assert values[("dfs_sqlite_transaction_seconds_count", frozenset())] >= 4
    assert values[("dfs_namespace_conflicts_total", frozenset())] == 0
    assert not any(name.endswith("_created") for name, _ in values)


@pytest_twisted.ensureDeferred
async def test_status_page_and_assets_are_served_and_nothing_else(namenode):
    http = StubTreq(namenode.resource())
    response = await http.get(BASE + "/")
    assert response.code == 200
    assert response.headers.getRawHeaders("content-type") == ["text/html; charset=utf-8"]
    page = (await response.content()).decode()
    assert '<script src="/static/namenode.js"' in page and 'id="datanodes"' in page
    response = await http.get(BASE + "/static/namenode.js")
    assert response.code == 200 and b"GETFILEBLOCKLOCATIONS" in await response.content()
    for name in ("nope.js", "..%2Fpages.py", "%2E%2E"):
        response = await http.get(BASE + "/static/" + name)
        assert response.code == 404, name
        assert "RemoteException" in await response.json()


@pytest_twisted.ensureDeferred
async def test_site_logs_one_line_per_request_and_counts_it(namenode):
    site = QuietSite(namenode.resource(), metrics=namenode.telemetry, reactor=Clock())
    with capturedLogs() as events:
        answer = serve(site, b"GET /webhdfs/v1/?op=liststatus&delegation=SECRET HTTP/1.1\r\nHost: nn\r\n\r\n")
        serve(site, b"GET /webhdfs/v1/?op=MADEUP HTTP/1.1\r\nHost: nn\r\n\r\n")
        serve(site, b"GET /webhdfs/v1/?op=GETSNAPSHOTTABLEDIRECTORYLIST HTTP/1.1\r\nHost: nn\r\n\r\n")
        serve(site, b"PUT /cluster/datanodes/n1/heartbeat HTTP/1.1\r\nHost: nn\r\nContent-Length: 40\r\n\r\n"
                    b'{"capacity": 1, "used": 0, "free": 1}   ')
    assert answer.startswith(b"HTTP/1.1 200")
    lines = [e for e in events if e.get("log_namespace") == "dfs.web"]
    assert [(e["method"], e["path"], e["op"], e["code"]) for e in lines] == [
        ("GET", "/webhdfs/v1/", "LISTSTATUS", 200), ("GET", "/webhdfs/v1/", "invalid", 400),
        ("GET", "/webhdfs/v1/", "GETSNAPSHOTTABLEDIRECTORYLIST", 200),  # every op the namenode serves, by name
    ], "heartbeats are counted, not logged"
    text = formatEvent(lines[0])
    assert text.startswith("GET /webhdfs/v1/ LISTSTATUS 200 in=0 out=") and "SECRET" not in text
    values = samples((await namenode.telemetry.render(_HeaderSink())).decode())
    assert values[("dfs_http_requests_total", frozenset({("op", "LISTSTATUS"), ("code", "200")}))] == 1
    assert values[("dfs_http_requests_total", frozenset({("op", "invalid"), ("code", "400")}))] == 1
    assert values[("dfs_http_request_bytes_total", frozenset({("op", "heartbeat")}))] == 40
    assert values[("dfs_http_request_duration_seconds_count",
                   frozenset({("op", "heartbeat"), ("code", "200")}))] == 1


class _HeaderSink:
    """Stands in for a request where only headers are set."""

    def setHeader(self, name, value):
        pass


@pytest_twisted.ensureDeferred
async def test_datanode_status_page_and_metrics(tmp_path):
    store = BlockStore(str(tmp_path / "dn"))
    app = DatanodeApp(store, None, Clock(), None, NamenodeClient(None, "http://nn:8180/"))
    app.node_id = "dn1"
    status = app.node_status()
    assert status["id"] == "dn1" and status["namenode"] == "http://nn:8180" and status["blocks"] == 0
    assert status["scrubber"] is None
    app.scrubber = _Scrubber()
    values = samples((await app.telemetry.render(_HeaderSink())).decode())
    assert values[("dfs_blockstore_blocks", frozenset())] == 0
    assert values[("dfs_scrubber_position_blocks", frozenset())] == 3
    assert values[("dfs_scrubber_checked_blocks_total", frozenset())] == 12
    http = StubTreq(app.resource())
    page = await (await http.get("http://dn/")).content()
    assert b'<script src="/static/datanode.js"' in page


class _Scrubber:
    rate = 1 << 20
    stats = {"checked": 12, "corrupt": 0, "passes": 2, "position": 3, "total": 7}


def test_reactor_lag_is_how_late_a_timer_fires():
    clock, lags = Clock(), []
    probe = ReactorLagProbe(clock, lags.append, interval=1.0)
    probe.startService()
    clock.advance(1.0)
    clock.advance(2.5)  # the reactor was busy 1.5 s past the next tick
    probe.stopService()
    clock.advance(10)
    assert lags == [0.0, 1.5]


def test_the_reactor_threads_cpu_between_two_ticks_is_recorded_beside_the_lag():
    """The lag also counts time the machine gave other processes; the thread's CPU does not (bench/scale.py runs
    the namenode with --lag-probe-interval 0.005 to see the reactor's longest holds on a loaded machine)."""
    clock, lags, held = Clock(), [], []
    probe = ReactorLagProbe(clock, lags.append, interval=0.005, observe_cpu=held.append)
    probe.startService()
    clock.advance(0.005)
    started = time.thread_time()
    while time.thread_time() - started < 0.03:  # the reactor holds on to 30 ms of CPU
        pass
    clock.advance(0.005)
    probe.stopService()
    assert lags == [0.0, 0.0] and held[0] < 0.02 <= 0.03 <= held[1] < 0.2


def _hold_the_reactor(seconds):
    """Work ``seconds`` of this thread's CPU: as long a hold on a busy machine as on an idle one."""
    started = time.thread_time()
    while time.thread_time() - started < seconds:
        pass


class _ThreadCalls:
    def __init__(self):
        self.calls, self.made = [], threading.Event()

    def callFromThread(self, f, *args):
        self.calls.append((f, args))
        self.made.set()


def test_a_stall_is_reported_once_it_is_over_with_where_the_reactor_thread_was():
    reactor, late = _ThreadCalls(), [-1.0]
    tracer = StallTracer(reactor, lambda: late[0], 0.02)
    tracer.startService()
    try:
        _hold_the_reactor(0.1)  # held, but the probe is not late: nothing to trace
        late[0] = 0.5
        _hold_the_reactor(0.3)
        assert not reactor.made.is_set()  # the stall is not over yet
        late[0] = -1.0
        assert reactor.made.wait(10)
    finally:
        tracer.stopService()
    (report, (seconds, cpu, places)), = reactor.calls
    assert report is log_stall and seconds == 0.5 and sum(places.values()) >= 3
    assert 0.29 <= cpu < 2, "the CPU the reactor's thread spent in the stall: the 0.3 s it worked, not the 0.1 before"
    assert places.most_common(1)[0][0].startswith("_hold_the_reactor (test_telemetry.py:")
    assert not tracer._thread.is_alive()


def test_a_stall_is_logged_as_one_warning_naming_the_places_most_seen():
    places = {"render (dfs/web.py:12) < route (dfs/namenode/app.py:30)": 7, "sort (placement.py:5)": 2}
    with capturedLogs() as events:
        log_stall(0.083, 0.0614, Counter(places))
    text = formatEvent(events[0])
    assert events[0]["log_level"] == LogLevel.warn
    assert text == ("the reactor was held 83 ms (61 ms of its CPU); its stack in 9 samples: 7x render (dfs/web.py:12)"
                    " < route (dfs/namenode/app.py:30); 2x sort (placement.py:5)")


def test_the_stall_trace_option_starts_a_tracer_beside_the_lag_probe():
    options = NamenodeOptions()
    options.parseOptions(["--stall-trace", "0.05"])
    probes = Metrics().probes(Clock(), options["lag-probe-interval"], options["stall-trace"])
    assert [type(p) for p in probes] == [ReactorLagProbe, GcPauseProbe, StallTracer]
    assert [type(p) for p in Metrics().probes(Clock())] == [ReactorLagProbe, GcPauseProbe]


class _Series:
    def __init__(self):
        self.seen = []

    def observe(self, seconds):
        self.seen.append(seconds)


def test_gc_pauses_are_timed_by_generation_while_the_probe_runs():
    series = [_Series(), _Series(), _Series()]
    probe = GcPauseProbe(series)
    probe.startService()
    gc.collect(2)
    gc.collect(1)
    probe.stopService()
    gc.collect(2)
    assert len(series[2].seen) == 1 and len(series[1].seen) >= 1  # young ones may come by themselves too
    assert all(seconds > 0 for s in series for seconds in s.seen)
    assert probe._callback not in gc.callbacks and gc.get_freeze_count() == 0


def test_what_start_up_built_is_out_of_the_collectors_walks_while_the_probe_runs():
    """A full collection walked every module's functions and classes each time: 30-60 ms in a namenode."""
    probe = GcPauseProbe([_Series(), _Series(), _Series()])
    probe.startService()
    try:
        assert gc.get_freeze_count() > 10_000 and gc.is_tracked(_Series)
        assert not any(o is _Series for o in gc.get_objects())  # what a collection walks
    finally:
        probe.stopService()
    assert gc.get_freeze_count() == 0


def test_json_log_lines_carry_the_message_and_plain_fields():
    events = []
    log = Logger(namespace="dfs.test", observer=events.append)
    log.info("stored {block} ({size} bytes)", block="ab" * 32, size=10, obj=object())
    try:
        1 / 0
    except ZeroDivisionError:
        log.failure("repair pass failed")
    first, second = (json.loads(logs.event_as_json(e)) for e in events)
    assert first["level"] == "info" and first["system"] == "dfs.test"
    assert first["message"] == f"stored {'ab' * 32} (10 bytes)"
    assert first["block"] == "ab" * 32 and first["size"] == 10 and "obj" not in first
    assert first["time"].endswith("+00:00")
    assert second["level"] == "critical" and "ZeroDivisionError" in second["traceback"]


def test_text_log_lines_are_twistds_own():
    """The fast text observer writes exactly what twistd's textFileLogObserver writes, whatever the event."""
    events = []
    log = Logger(namespace="dfs.test", observer=events.append)
    log.info("stored {block} ({size} bytes) {ratio:.2f} {items!r}", block="ab" * 32, size=10, ratio=1 / 3,
             items=["x"])
    log.warn("two\nlines and {braces}", braces="{}")
    log.info("a call {obj.upper()}", obj="works")  # Twisted's call syntax: str.format cannot, the fallback does
    log.info("a missing {field}")
    log.info("no fields at all")
    log.info(None)
    log.info("{n.__class__.__name__} via Twisted's wrapper", n=1)
    events.append({"log_format": "from {log_system}", "log_system": "legacy-system", "log_time": time.time()})
    events.append({"log_format": "odd system", "log_system": 42, "log_time": 1_700_000_000.9999997})
    events.append({"log_format": "two-line system", "log_system": "a\nb", "log_time": 1_700_000_000.25})
    events.append({"log_format": "no time", "log_namespace": "x", "log_level": LogLevel.debug})
    try:
        1 / 0
    except ZeroDivisionError:
        log.failure("repair pass failed")
    stamps = logs._TimeStamps()
    for event in events:
        assert logs.event_as_text(event, stamps) == formatEventAsClassicLogText(event)
    assert "WORKS" in logs.event_as_text(events[2]) and "ZeroDivisionError" in logs.event_as_text(events[-1])
    assert "PotentialCallWrapper" in logs.event_as_text(events[6])


def test_log_format_option_picks_twistds_logger():
    for args, expected in (([], None), (["--log-format", "json"], logs.JSON_OBSERVER)):
        options = NamenodeOptions()
        options.parent = {"logger": None}
        options.parseOptions(args)
        assert options.parent["logger"] == expected
    for parent, expected in (({"nodaemon": True, "logfile": None}, logs.TEXT_OBSERVER),
                             ({"nodaemon": True, "logfile": "-"}, logs.TEXT_OBSERVER),
                             ({"nodaemon": False, "debug": True, "logfile": ""}, logs.TEXT_OBSERVER),
                             ({"nodaemon": True, "logfile": "/var/log/dfs.log"}, None),
                             ({"nodaemon": True, "logfile": None, "syslog": True}, None),
                             ({"nodaemon": False, "logfile": None}, None)):
        options = NamenodeOptions()
        options.parent = {"logger": None, **parent}
        options.parseOptions([])
        assert options.parent["logger"] == expected, parent
    options = NamenodeOptions()
    options.parent = {"logger": "my.own.observer"}
    options.parseOptions(["--log-format", "json"])
    assert options.parent["logger"] == "my.own.observer", "an explicit twistd --logger wins"
    with pytest.raises(usage.UsageError):
        NamenodeOptions().parseOptions(["--log-format", "xml"])


def test_a_background_pass_on_a_full_disk_logs_one_line():
    """The namenode's disk full during a repair pass is an operator's matter the next pass retries: a warning, no
    traceback (a test's daemon logs must hold none)."""
    events = []
    logs.background_failure(Logger(namespace="dfs.test", observer=events.append), "repair pass failed")(
        Failure(NoSpace("the namenode cannot record the change: database or disk is full")))
    [event] = events
    assert event["log_level"] == LogLevel.warn and "log_failure" not in event
