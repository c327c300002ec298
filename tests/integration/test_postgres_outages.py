"""Namenodes on a PostgreSQL that goes away: while it restarts they answer 503 with Retry-After and recover on their
own; when its synchronous standby is promoted (a multi-host URL with target_session_attrs=read-write) they go on
against it. Writers run throughout, and every acknowledged file reads back with its SHA-256."""

import hashlib
import time

import psycopg
import pytest
import requests

import postgres
from test_namenode_kills import _wait_for_acks, start_writers

WRITERS = 3
WAIT = 120  # seconds: generous, the machine may be loaded


@pytest.fixture
def servers(postgres_server):
    """Servers of the test's own (``postgres_server``: skipped where none can run), stopped at the end."""
    started = []

    def start(server, standby_of=None):
        started.append(server)
        return server.start() if standby_of is None else server.start_standby_of(standby_of)

    yield start
    for server in started:
        server.stop()


def _stop(writers):
    for writer in writers:
        writer.stop.set()
    for writer in writers:
        writer.join(180)


def _check_acknowledged(writers, url):
    acked = {path: sha for writer in writers for path, sha in writer.acked.items()}
    for path, sha in acked.items():
        response = requests.get(f"{url}/webhdfs/v1{path}", params={"op": "OPEN"}, timeout=60)
        assert response.status_code == 200, (path, response.text)
        assert hashlib.sha256(response.content).hexdigest() == sha, path
    return len(acked)


def _stat_root(url):
    """GETFILESTATUS of / at ``url``, and how long the answer took."""
    asked = time.monotonic()
    response = requests.get(f"{url}/webhdfs/v1/", params={"op": "GETFILESTATUS"}, timeout=60)
    return response, time.monotonic() - asked


def _serving_again(url, since):
    """Seconds from ``since`` until the namenode at ``url`` answers a stat again."""
    deadline = time.monotonic() + WAIT
    while _stat_root(url)[0].status_code != 200:
        assert time.monotonic() < deadline, "the namenode never served again"
        time.sleep(0.2)
    return time.monotonic() - since


def test_a_postgresql_restart_during_writes_is_503_then_served_again_and_loses_nothing(servers, make_cluster,
                                                                                        tmp_path):
    server = servers(postgres.PostgresServer(durable=True))
    cluster = make_cluster(namenodes=2, namenode_args=["--db-url", server.database()])
    writers = start_writers(cluster, tmp_path, WRITERS)
    try:
        _wait_for_acks(writers, 3, WAIT)
        server.halt()
        stopped = time.monotonic()
        refusals = []
        while time.monotonic() - stopped < 8:  # the database stays away this long at least
            response, took = _stat_root(cluster.url)
            refusals.append((response.status_code, round(took, 1)))
            assert response.status_code == 503, response.text
            assert response.headers["Retry-After"] == "5"
            assert response.json()["RemoteException"]["exception"] == "RetriableException"
            assert "cannot reach its namespace database" in response.json()["RemoteException"]["message"]
            assert took < 15, "a request waits for a connection a few seconds, not until the database is back"
        server.launch()
        outage = time.monotonic() - stopped
        recovered = [_serving_again(namenode.url, stopped) - outage for namenode in cluster.namenodes]
        _wait_for_acks(writers, 3, WAIT)
    finally:
        _stop(writers)
    acked = _check_acknowledged(writers, cluster.namenodes[1].url)
    # Heartbeats and the leader's lease came back too: every datanode alive, one namenode leading.
    cluster.wait_for(lambda s: s["totals"]["alive"] == 3, what="every datanode alive again")
    leading = [cluster.get_json("/cluster", url=n.url)["leader_epoch"] for n in cluster.namenodes]
    deadline = time.monotonic() + WAIT
    while sum(epoch is not None for epoch in leading) != 1:
        assert time.monotonic() < deadline, f"no one namenode leads again: {leading}"
        time.sleep(0.5)
        leading = [cluster.get_json("/cluster", url=n.url)["leader_epoch"] for n in cluster.namenodes]
    print(f"PostgreSQL away {outage:.1f} s; {len(refusals)} stats answered 503 meanwhile, in at most"
          f" {max(t for _, t in refusals)} s; the namenodes served again {[round(r, 1) for r in recovered]} s after"
          f" it was back; {acked} acknowledged files read back")


def test_promoting_the_synchronous_standby_during_writes_loses_no_acknowledged_write(servers, make_cluster,
                                                                                      tmp_path):
    # A commit waits until the standby has the change (synchronous_commit=on, the default with durable=True). The
    # standby is started without synchronous_standby_names: once promoted, it has no standby to wait for.
    primary = servers(postgres.PostgresServer(durable=True, settings=["synchronous_standby_names='*'"]))
    standby = servers(postgres.PostgresServer(durable=True), standby_of=primary)
    name = psycopg.conninfo.conninfo_to_dict(primary.database())["dbname"]
    url = f"postgresql://{postgres.SERVICE_USER}@/{name}?host={primary.dir},{standby.dir}" \
          "&target_session_attrs=read-write"
    with psycopg.connect(primary.url(), autocommit=True) as db:
        assert db.execute("SELECT sync_state FROM pg_stat_replication").fetchall() == [("sync",)]
    cluster = make_cluster(namenodes=2, namenode_args=["--db-url", url])
    writers = start_writers(cluster, tmp_path, WRITERS)
    try:
        _wait_for_acks(writers, 3, WAIT)
        primary.halt()
        stopped = time.monotonic()
        standby.promote()
        promoted = time.monotonic() - stopped
        served = [_serving_again(namenode.url, stopped) for namenode in cluster.namenodes]
        _wait_for_acks(writers, 3, WAIT)
    finally:
        _stop(writers)
    acked = _check_acknowledged(writers, cluster.url)  # from the promoted standby: the primary is stopped
    print(f"the standby was promoted {promoted:.1f} s after the primary stopped; the namenodes served again"
          f" {[round(s, 1) for s in served]} s after the stop; {acked} acknowledged files read back")
