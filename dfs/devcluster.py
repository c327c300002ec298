"""A local cluster for development: one namenode and N datanodes on loopback, data under one directory.

`python -m dfs.devcluster --root ./run` (what `make run` does). Ctrl-C stops every process it started.
"""

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

from dfs.node import twistd_command

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def twistd_env():
    return dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [REPO, os.environ.get("PYTHONPATH")])))


def twistd(role, args, log_path, processes):
    """Start a role (added to ``processes`` at once, so it is stopped whatever happens) and wait until it listens."""
    offset = os.path.getsize(log_path) if os.path.exists(log_path) else 0
    with open(log_path, "ab") as log:
        process = subprocess.Popen(twistd_command(role, args), stdout=log, stderr=subprocess.STDOUT,
                                   env=twistd_env(), start_new_session=True)
    processes.append(process)
    print(f"{role.split('-')[1]} pid {process.pid}", flush=True)
    wait_listening(log_path, offset, process)
    return process


def terminate(processes):
    for p in processes:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in processes:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()


def wait_listening(log_path, offset, process, timeout=30.0):
    """Wait for the process's own 'listening on' log line: a /health answer could come from whatever else
    holds the port when this process failed to bind it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(log_path, "rb") as f:
            f.seek(offset)
            log = f.read().decode("utf-8", "replace")
        if " listening on " in log:
            return
        if process.poll() is not None:
            refusal = re.search(r"dfs \w+ cannot listen on .*", log)
            if refusal and "in use" in refusal.group(0):
                raise SystemExit(f"{refusal.group(0)}\nAnother cluster (an earlier `make run`?) has the port: stop it, "
                                 "or start this one elsewhere with python -m dfs.devcluster --port N")
            raise SystemExit(f"{log_path}: the process exited with {process.returncode}; see its log")
        time.sleep(0.2)
    raise SystemExit(f"{log_path}: not listening after {timeout:.0f}s")


def wait_ready(namenode_url, datanodes, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with urllib.request.urlopen(namenode_url + "/cluster", timeout=2) as r:
            totals = json.load(r)["totals"]
        if totals["alive"] >= datanodes and not totals["safemode"]:
            return
        time.sleep(0.2)
    raise SystemExit(f"the datanodes did not all join within {timeout:.0f}s")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="run", help="directory for the database, blocks and logs (default ./run)")
    parser.add_argument("--port", type=int, default=8180, help="namenode port; datanodes take the next ones")
    parser.add_argument("--datanodes", type=int, default=3)
    parser.add_argument("--replication", type=int, default=3)
    parser.add_argument("--block-size", default="64M")
    args, extra = parser.parse_known_args(argv)

    root = os.path.abspath(args.root)
    os.makedirs(os.path.join(root, "logs"), exist_ok=True)
    namenode_url = f"http://127.0.0.1:{args.port}"
    processes = []

    def stop(*_):
        terminate(processes)
        print("dfs cluster stopped", flush=True)
        sys.exit(0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    try:
        twistd("dfs-namenode", [
            "--listen", f"tcp:{args.port}:interface=127.0.0.1", "--db", os.path.join(root, "namenode.sqlite"),
            "--replication", str(args.replication), "--block-size", args.block_size, *extra,
        ], os.path.join(root, "logs", "namenode.log"), processes)
        for i in range(1, args.datanodes + 1):
            twistd("dfs-datanode", [
                "--listen", f"tcp:{args.port + i}:interface=127.0.0.1", "--root", os.path.join(root, f"datanode{i}"),
                "--namenode", namenode_url, "--heartbeat", "1",
            ], os.path.join(root, "logs", f"datanode{i}.log"), processes)
        wait_ready(namenode_url, args.datanodes)
    except SystemExit:
        terminate(processes)
        raise
    print(f"dfs cluster ready: {namenode_url}  (logs in {root}/logs; Ctrl-C stops it)", flush=True)
    while True:
        for p in processes:
            if p.poll() is not None:
                print(f"process {p.pid} exited with {p.returncode}; stopping the cluster", flush=True)
                stop()
        time.sleep(1)


if __name__ == "__main__":
    main()
