"""A local cluster for development: one namenode and N datanodes on loopback, data under one directory.

`python -m dfs.devcluster --root ./run` (what `make run` does). Ctrl-C stops every process it started.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def twistd_command(role, args):
    """The argv that runs ``twistd -n <role>`` with this interpreter (the plugin is found via PYTHONPATH)."""
    return [sys.executable, "-c", "from twisted.scripts.twistd import run; run()", "-n", "--pidfile=", role, *args]


def twistd_env():
    return dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [REPO, os.environ.get("PYTHONPATH")])))


def twistd(role, args, log_path):
    log = open(log_path, "ab")
    return subprocess.Popen(twistd_command(role, args), stdout=log, stderr=subprocess.STDOUT, env=twistd_env(),
                            start_new_session=True)


def wait_healthy(url, process, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{url} exited with {process.returncode}; see its log")
        try:
            with urllib.request.urlopen(url + "/health", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not become healthy in {timeout:.0f}s")


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
        for p in processes:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in processes:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        print("dfs cluster stopped", flush=True)
        sys.exit(0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    namenode = twistd("dfs-namenode", [
        "--listen", f"tcp:{args.port}:interface=127.0.0.1", "--db", os.path.join(root, "namenode.sqlite"),
        "--replication", str(args.replication), "--block-size", args.block_size, *extra,
    ], os.path.join(root, "logs", "namenode.log"))
    processes.append(namenode)
    print(f"namenode pid {namenode.pid}", flush=True)
    wait_healthy(namenode_url, namenode)
    for i in range(1, args.datanodes + 1):
        port = args.port + i
        datanode = twistd("dfs-datanode", [
            "--listen", f"tcp:{port}:interface=127.0.0.1", "--root", os.path.join(root, f"datanode{i}"),
            "--namenode", namenode_url, "--heartbeat", "1",
        ], os.path.join(root, "logs", f"datanode{i}.log"))
        processes.append(datanode)
        print(f"datanode pid {datanode.pid}", flush=True)
        wait_healthy(f"http://127.0.0.1:{port}", datanode)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with urllib.request.urlopen(namenode_url + "/cluster", timeout=2) as r:
            status = json.load(r)
        if status["totals"]["alive"] >= args.datanodes and not status["totals"]["safemode"]:
            break
        time.sleep(0.2)
    print(f"dfs cluster ready: {namenode_url}  (logs in {root}/logs; Ctrl-C stops it)", flush=True)
    while True:
        for p in processes:
            if p.poll() is not None:
                print(f"process {p.pid} exited with {p.returncode}; stopping the cluster", flush=True)
                stop()
        time.sleep(1)


if __name__ == "__main__":
    main()
