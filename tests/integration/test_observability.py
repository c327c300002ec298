"""The status pages in a real headless browser, /metrics moving after an upload, and the request log, on real processes."""

import json
import os
import re
import shutil
import subprocess
import time
import urllib.request

import pytest
import requests
from cluster import Process
from prometheus_client.parser import text_string_to_metric_families

H = {"Content-Type": "application/octet-stream"}
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_browser = pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (.ci/browser-deps installs it)")
SIZE = re.compile(r"\d+(\.\d+)? (B|KiB|MiB|GiB|TiB|PiB)")


def put(url, path, data, **params):
    r = requests.put(url + "/webhdfs/v1" + path, params={"op": "CREATE", "data": "true", **params}, data=data,
                     headers=H)
    assert r.status_code == 201, r.text
    return r


def browser(url, profile, *action):
    """Run headless chromium on ``url``; ``action`` is --dump-dom or --screenshot=... (stdout is the DOM)."""
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--hide-scrollbars", f"--user-data-dir={profile}", "--virtual-time-budget=5000", *action, url]
    done = subprocess.run(command, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    return done.stdout.decode()


def text_of(dom, element_id):
    """The text inside the element with ``element_id`` (tags dropped), or None."""
    match = re.search(rf'id="{element_id}"[^>]*>(.*?)</(div|dd|td|code|span)>', dom, re.S)
    return None if match is None else re.sub(r"<[^>]+>", "", match.group(1))


def scrape(url):
    """{(name, frozenset(labels)): value} of a node's /metrics."""
    with urllib.request.urlopen(url + "/metrics", timeout=10) as r:
        assert r.headers["Content-Type"].startswith("text/plain")
        text = r.read().decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(metrics, name, **labels):
    return metrics.get((name, frozenset(labels.items())), 0.0)


@needs_browser
def test_status_page_shows_nodes_capacity_and_a_browsed_file(cluster, unique_dir, tmp_path):
    put(cluster.url, f"{unique_dir}/logs/app.log", b"started\n" * 1000)
    put(cluster.url, f"{unique_dir}/report.bin", os.urandom(200_000), blocksize=65536)
    nodes = cluster.status()["nodes"]
    page = f"{cluster.url}/#{unique_dir}/report.bin"

    dom = browser(page, tmp_path / "profile", "--dump-dom")
    for node in nodes:
        assert f'data-node="{node["id"]}"' in dom, f"datanode {node['id']} missing from the node table"
    status = cluster.status()
    assert text_of(dom, "namenode-version") == status["version"]
    assert re.fullmatch(r"[\d.]+ (s|min|h|d)", text_of(dom, "uptime") or ""), text_of(dom, "uptime")
    assert SIZE.fullmatch(text_of(dom, "metadata-size") or ""), text_of(dom, "metadata-size")
    assert "joined" in dom[dom.index('id="history"'):], "no datanode history"
    assert "unreachable inodes" in dom[dom.index('id="namespace"'):], "no count of what no path reaches"
    for node in status["nodes"]:
        row = dom[dom.index(f'data-node="{node["id"]}"'):]
        assert f'>{node["version"]}</td>' in row[:row.index("</tr>")], "datanode version missing"
    capacity = text_of(dom, "capacity-text")
    assert capacity and "used by blocks of" in capacity and SIZE.search(capacity), capacity
    assert f'data-path="{unique_dir}/report.bin"' in dom and f'data-path="{unique_dir}/logs"' in dom
    assert text_of(dom, "block-count") == "4"
    blocks = dom[dom.index('id="blocks-table"'):]
    assert sum(blocks.count(f">{node['id']}</a>") for node in nodes) == 4 * min(3, len(nodes))
    assert f'href="/webhdfs/v1{unique_dir}/report.bin?op=OPEN"' in dom, "no download link"

    screenshot = tmp_path / "status-page.png"
    browser(page, tmp_path / "profile", f"--screenshot={screenshot}", "--window-size=1280,1050")
    with open(screenshot, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert screenshot.stat().st_size > 20_000
    os.makedirs(os.path.join(REPO, "docs"), exist_ok=True)
    shutil.copyfile(screenshot, os.path.join(REPO, "docs", "status-page.png"))


@needs_browser
def test_file_browser_pages_a_large_directory_and_opens_the_page_of_a_linked_file(cluster, unique_dir, tmp_path):
    for i in range(120):
        put(cluster.url, f"{unique_dir}/big/f{i:03}", b"")
    dom = browser(f"{cluster.url}/#{unique_dir}/big", tmp_path / "profile", "--dump-dom")
    assert dom.count(f'data-path="{unique_dir}/big/f') == 100
    assert "entries 1\u2013100 of 120" in text_of(dom, "pager")
    dom = browser(f"{cluster.url}/#{unique_dir}/big/f110", tmp_path / "profile", "--dump-dom")
    assert f'data-path="{unique_dir}/big/f110"' in dom and f'data-path="{unique_dir}/big/f000"' not in dom
    assert "entries 101\u2013120 of 120" in text_of(dom, "pager")


@needs_browser
def test_datanode_page_shows_its_blocks_and_disk(cluster, tmp_path):
    node = cluster.datanodes[0]
    dom = browser(node.url + "/", tmp_path / "profile", "--dump-dom")
    status = requests.get(node.url + "/status").json()
    assert text_of(dom, "node-id") == status["id"]
    assert "used by blocks of" in text_of(dom, "disk-text")
    scrub = text_of(dom, "scrub-text")
    assert scrub and re.match(r"pass \d+: block [\d,]+ of [\d,]+", scrub), scrub


def test_cluster_status_has_versions_uptime_metadata_size_and_block_reports(cluster):
    status = cluster.status()
    assert status["version"] not in (None, "", "unknown")
    assert status["uptime"] > 0 and status["metadata_bytes"] > 0
    for node in status["nodes"]:
        assert node["version"] == status["version"]
        # Full reports come hours apart: the last one is the registration's, no older than the namenode.
        assert 0 <= node["last_block_report"] <= status["uptime"]
    joined = {event["node"] for event in status["history"] if event["event"] == "joined"}
    assert joined >= {node["id"] for node in status["nodes"]}


def test_metrics_move_after_an_upload_and_a_read(cluster, unique_dir):
    data = os.urandom(300_000)  # five blocks of 64 KiB, the last one short
    replicas = min(3, len(cluster.datanodes))
    before = scrape(cluster.url)
    nodes_before = [scrape(d.url) for d in cluster.datanodes]

    put(cluster.url, f"{unique_dir}/m.bin", data, blocksize=65536, replication=replicas)
    assert requests.get(cluster.url + "/webhdfs/v1" + f"{unique_dir}/m.bin", params={"op": "OPEN"}).content == data

    after = scrape(cluster.url)
    created = {"op": "CREATE", "code": "201"}
    assert value(after, "dfs_http_requests_total", **created) == value(before, "dfs_http_requests_total", **created) + 1
    assert (value(after, "dfs_http_request_duration_seconds_count", **created)
            == value(before, "dfs_http_request_duration_seconds_count", **created) + 1)
    assert value(after, "dfs_http_requests_total", op="OPEN", code="307") >= 1
    for name in ("dfs_upload_bytes_total", "dfs_stored_block_bytes_total"):
        assert value(after, name) - value(before, name) == len(data), name
    assert value(after, "dfs_http_request_bytes_total", op="CREATE") - value(before, "dfs_http_request_bytes_total",
                                                                             op="CREATE") == len(data)
    assert value(after, "dfs_sqlite_transaction_seconds_count") > value(before, "dfs_sqlite_transaction_seconds_count")
    assert value(after, "dfs_files") >= value(before, "dfs_files") + 1
    assert value(after, "dfs_datanodes", state="alive") == len(cluster.datanodes)
    assert value(after, "dfs_capacity_bytes") > 0 and value(after, "dfs_free_bytes") > 0
    assert value(after, "dfs_reactor_lag_seconds_count") > 0
    assert value(after, "dfs_gc_pause_seconds_count", generation="0") > 0  # young collections come all the time
    assert value(after, "dfs_safemode") == 0

    # Blocks by state come from the repair pass, a moment later.
    deadline = time.monotonic() + 20
    while value(after, "dfs_blocks", state="healthy") < value(before, "dfs_blocks", state="healthy") + 5:
        assert time.monotonic() < deadline, "the five new blocks never showed as healthy"
        time.sleep(0.3)
        after = scrape(cluster.url)
    # The cluster is shared: GC may be removing earlier tests' replicas meanwhile, so the total need not grow by
    # this file's; it holds them, and the file's own blocks each have their replicas.
    assert value(after, "dfs_replicas", state="alive") >= 5 * replicas
    locations = requests.get(cluster.url + "/webhdfs/v1" + f"{unique_dir}/m.bin",
                             params={"op": "GETFILEBLOCKLOCATIONS"}).json()["BlockLocations"]["BlockLocation"]
    assert [len(block["hosts"]) for block in locations] == [replicas] * 5

    nodes_after = [scrape(d.url) for d in cluster.datanodes]
    moved = {name: sum(value(a, name) - value(b, name) for a, b in zip(nodes_after, nodes_before))
             for name in ("dfs_upload_bytes_total", "dfs_read_bytes_total")}
    assert moved["dfs_upload_bytes_total"] == len(data) * replicas
    assert moved["dfs_read_bytes_total"] >= len(data)
    assert sum(value(a, "dfs_blockstore_blocks") for a in nodes_after) >= 5 * replicas  # a gauge GC may lower

    labels = {name for metrics in [after, *nodes_after] for (_, pairs) in metrics for name, _ in pairs}
    assert labels <= {"op", "code", "state", "node", "le", "generation"}, "no label may carry a path or a block id"


def test_each_request_is_one_log_line(cluster, unique_dir):
    data = b"x" * 5000
    put(cluster.url, f"{unique_dir}/logged.txt", data)
    line = re.compile(rf"PUT /webhdfs/v1{re.escape(unique_dir)}/logged\.txt CREATE 201 in={len(data)} out=0"
                      r" \d+\.\d{3}s \"python-requests/")
    deadline = time.monotonic() + 10
    while not line.search(cluster.namenode.log()):
        assert time.monotonic() < deadline, "no request line for the upload in the namenode log"
        time.sleep(0.1)
    namenode_log = cluster.namenode.log()
    assert "data=true" not in namenode_log, "query strings (which may carry tokens) stay out of the log"
    assert " heartbeat 200 " not in namenode_log, "heartbeats are counted, not logged"
    uploads = rf"PUT /blocks/batch upload_batch 201 in={len(data)} out=\d+ \d+\.\d{{3}}s"
    assert sum(bool(re.search(uploads, d.log())) for d in cluster.datanodes) >= min(2, len(cluster.datanodes))


def test_json_logs_one_object_per_line(tmp_path, monkeypatch):
    monkeypatch.setenv("DFS_LOG_FORMAT", "json")
    log_path = tmp_path / "namenode.log"
    namenode = Process("dfs-namenode", ["--listen", "tcp:0:interface=127.0.0.1", "--db", str(tmp_path / "nn.sqlite")],
                       str(log_path)).start()
    try:
        assert requests.get(namenode.url + "/cluster").status_code == 200
        assert requests.get(namenode.url + "/no/such/thing").status_code == 404
        deadline = time.monotonic() + 10
        while '"path":"/no/such/thing"' not in namenode.log():
            assert time.monotonic() < deadline, namenode.log()[-2000:]
            time.sleep(0.1)
    finally:
        namenode.stop()
    records = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    assert all({"time", "level", "system", "message"} <= set(r) for r in records)
    assert any("listening on" in r["message"] for r in records)
    [cluster_get] = [r for r in records if r.get("op") == "cluster"]
    assert cluster_get["method"] == "GET" and cluster_get["code"] == 200 and cluster_get["path"] == "/cluster"
    assert isinstance(cluster_get["duration"], float) and cluster_get["bytes_out"] > 0
    assert any(r.get("code") == 404 and r.get("op") == "unrouted" for r in records)
