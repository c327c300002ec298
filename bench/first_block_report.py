"""What a first full block report costs a freshly started namenode: one synthetic datanode of --blocks blocks reports
them all (every replica new to the namenode, as after a restart), while another beats every 50 ms.

    .venv/bin/python bench/first_block_report.py --blocks 1000000           # this release: pieces of 32-byte ids
    .venv/bin/python bench/first_block_report.py --blocks 1000000 --json    # the previous release's JSON body

Starts a real `twistd dfs-namenode` (the integration tests' Process, on a loopback port the system picks). Prints the
report's bytes, the seconds from its first byte sent to the namenode's last answer, the namenode's CPU seconds for
it, and the latency of the heartbeats sent meanwhile (median and max: how long the reactor was held).
"""

import argparse
import hashlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time

import requests

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from cluster import Process  # noqa: E402

from dfs import blockreports  # noqa: E402

USAGE = {"capacity": 1 << 40, "used": 1 << 30, "free": 1 << 39}


def register(url, node_id):
    body = {"id": node_id, "url": f"http://{node_id}.invalid:8181", **USAGE}
    requests.post(f"{url}/cluster/datanodes", json=body, timeout=60).raise_for_status()


def bodies(block_ids, as_json):
    """The report's requests, made before the clock starts: (query, content type, body) each."""
    if as_json:  # compact, as the datanode's treq sends it: 67 bytes a block
        return [({}, "application/json", json.dumps({"blocks": block_ids}, separators=(",", ":")).encode())]
    pieces = blockreports.pieces(block_ids)
    return [({"report": "bench", "piece": number, "pieces": len(pieces)}, "application/octet-stream", piece)
            for number, piece in enumerate(pieces)]


def send_report(session, url, node_id, requests_):
    for query, content_type, body in requests_:
        session.put(f"{url}/cluster/datanodes/{node_id}/blocks", data=body, params=query, timeout=600,
                    headers={"Content-Type": content_type}).raise_for_status()


def beat(url, stop, latencies):
    """Heartbeats every 50 ms until ``stop`` is set (at least one), their latencies appended to ``latencies``."""
    session = requests.Session()
    while True:
        started = time.monotonic()
        session.put(f"{url}/cluster/datanodes/beater/heartbeat", json=USAGE, timeout=600).raise_for_status()
        latencies.append(time.monotonic() - started)
        if stop.wait(0.05):
            return


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=1_000_000)
    parser.add_argument("--json", action="store_true", help="one JSON body, as the previous release sends it")
    args = parser.parse_args(argv)
    block_ids = [hashlib.sha256(b"%d" % n).hexdigest() for n in range(args.blocks)]
    work = tempfile.mkdtemp(prefix="dfs-report-bench-")
    namenode = Process("dfs-namenode", ["--listen", "tcp:0:interface=127.0.0.1", "--db",
                                        os.path.join(work, "namenode.sqlite")], os.path.join(work, "namenode.log"))
    try:
        namenode.start()
        register(namenode.url, "dn")
        register(namenode.url, "beater")
        idle_stop, idle = threading.Event(), []
        idle_stop.set()
        for _ in range(20):  # the heartbeat's latency with nothing else to do, for comparison
            beat(namenode.url, idle_stop, idle)
        stop, latencies = threading.Event(), []
        beater = threading.Thread(target=beat, args=(namenode.url, stop, latencies))
        report = bodies(block_ids, args.json)
        size = sum(len(body) for _, _, body in report)
        cpu = cpu_seconds(namenode.pid)
        started = time.monotonic()
        beater.start()
        send_report(requests.Session(), namenode.url, "dn", report)
        took = time.monotonic() - started
        stop.set()
        beater.join()
        cpu = cpu_seconds(namenode.pid) - cpu
        nodes = {node["id"]: node for node in requests.get(f"{namenode.url}/cluster", timeout=60).json()["nodes"]}
        assert nodes["dn"]["blocks"] == args.blocks, nodes["dn"]
        print(f"heartbeats alone: median {statistics.median(idle) * 1e3:.0f} ms, max {max(idle) * 1e3:.0f} ms")
        print(f"{args.blocks} blocks, {'JSON' if args.json else 'pieces'}: {size / 1e6:.1f} MB "
              f"({size / args.blocks:.0f} bytes a block) in {took:.1f} s, namenode CPU {cpu:.2f} s; "
              f"{len(latencies)} heartbeats meanwhile: median {statistics.median(latencies) * 1e3:.0f} ms, "
              f"max {max(latencies) * 1e3:.0f} ms", flush=True)
    finally:
        namenode.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
