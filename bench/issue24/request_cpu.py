#!/usr/bin/env python3
"""CPU that one request of a random 4 KiB read costs each server (issue 24, session 10), apart from the load of the
machine: one devcluster of the checkout under test (scrubbers off), a fresh 128 MiB file, then from one blocking
keep-alive client (http.client, in this process) N requests of each kind at seeded random offsets, and the
user+system CPU the serving process spent on them (psutil), per request:

- ``open``: the namenode's OPEN answered with its 307 (``noredirect`` is not used: the answer is the real one);
- ``dn-open``: the datanode's OPEN at the redirect's URL with a new offset (what the 307 leads to);
- ``block``: the datanode's ``GET /blocks/<id>`` of one 64 KiB chunk with a Range header (a mount's miss).

    bench/.venv/bin/python bench/issue24/request_cpu.py --repo /work/main --requests 3000
"""

import argparse
import http.client
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import urllib.parse
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from systems import DfsCluster  # noqa: E402

CHUNK = 64 * 1024
READ = 4096


def cpu(pid):
    t = psutil.Process(pid).cpu_times()
    return t.user + t.system


def per_request(pid, connection, requests):
    """Milliseconds of ``pid``'s CPU per request of ``requests`` (a list of (path, headers, expected status))."""
    before = cpu(pid)
    for path, headers, status in requests:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        response.read()
        if response.status != status:
            raise RuntimeError(f"{path}: {response.status}")
    return 1000 * (cpu(pid) - before) / len(requests)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repo", required=True)
    p.add_argument("--requests", type=int, default=3000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--port", type=int, default=8980)
    a = p.parse_args()
    os.environ["DFS_SCRUB_RATE"] = "0"
    repo = Path(a.repo)
    work = Path(tempfile.mkdtemp(prefix="request-cpu-"))
    cluster = DfsCluster(repo, repo / ".venv" / "bin" / "python", work, port=a.port, datanodes=1, replication=1)
    cluster.start()
    size = 128 << 20
    results = {"open": [], "dn-open": [], "block": []}
    try:
        pids = cluster.processes()
        namenode = pids["dfs namenode"]
        datanode = pids["dfs datanode1"]
        nn = http.client.HTTPConnection("127.0.0.1", a.port)
        nn.request("PUT", "/webhdfs/v1/big.bin?op=CREATE&data=true&overwrite=true", body=os.urandom(size))
        r = nn.getresponse()
        r.read()
        assert r.status == 201, r.status
        nn.request("GET", "/webhdfs/v1/big.bin?op=GETFILEBLOCKLOCATIONS")
        blocks = json.loads(nn.getresponse().read())["BlockLocations"]["BlockLocation"]
        nn.request("GET", "/webhdfs/v1/big.bin?op=OPEN&offset=0&length=4096&noredirect=true")
        location = urllib.parse.urlsplit(json.loads(nn.getresponse().read())["Location"])
        dn = http.client.HTTPConnection(location.hostname, location.port)
        query = dict(urllib.parse.parse_qsl(location.query))
        for round_ in range(a.rounds):
            rng = random.Random(round_)
            offsets = [rng.randrange(size - READ) for _ in range(a.requests)]
            opens = [(f"/webhdfs/v1/big.bin?op=OPEN&offset={o}&length={READ}", {}, 307) for o in offsets]
            dn_opens = [(location.path + "?" + urllib.parse.urlencode(dict(query, offset=o, length=READ)), {}, 200)
                        for o in offsets]
            gets = []
            for o in offsets:
                block = blocks[o // blocks[0]["blockSize"]]
                first = (o - block["offset"]) // CHUNK * CHUNK
                last = min(first + CHUNK, block["length"]) - 1
                gets.append((f"/blocks/{block['blockId']}", {"Range": f"bytes={first}-{last}"}, 206))
            for name, pid, connection, requests in (("open", namenode, nn, opens),
                                                    ("dn-open", datanode, dn, dn_opens),
                                                    ("block", datanode, dn, gets)):
                results[name].append(per_request(pid, connection, requests))
            print(f"round {round_ + 1}: " + "  ".join(f"{k} {v[-1]:.3f}" for k, v in results.items())
                  + f" ms CPU/request, load {os.getloadavg()[0]:.1f}", flush=True)
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)
    print("median: " + "  ".join(f"{k} {statistics.median(v):.3f}" for k, v in results.items()) + " ms CPU/request")


if __name__ == "__main__":
    main()
