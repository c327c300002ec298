"""How long the `dfs` command takes to start: medians of `dfs --help`, `dfs --version` and `dfs ls /`.

    .venv/bin/python bench/cli_startup.py                   # starts a local cluster of its own (ports 18280-18281)
    .venv/bin/python bench/cli_startup.py --namenode http://127.0.0.1:8180 --runs 21

Each figure is the wall time of a whole process, from exec to exit, as a user at a shell sees it. The targets are
0.4 s for `dfs --help` and 0.5 s for `dfs ls /` against a local cluster.
"""

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

# The console script beside this interpreter, as a user runs it (`python -m dfs.cli` when there is none).
SCRIPT = os.path.join(os.path.dirname(sys.executable), "dfs")
DFS = [SCRIPT] if os.path.exists(SCRIPT) else [sys.executable, "-m", "dfs.cli"]
TARGETS = {"dfs --help": 0.4, "dfs --version": 0.4, "dfs ls /": 0.5}


def timed(argv, env):
    start = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, timeout=60)
    return time.perf_counter() - start


def local_cluster(root, port):
    """A devcluster of one datanode; returns the process once the namenode answers."""
    process = subprocess.Popen([sys.executable, "-m", "dfs.devcluster", "--root", root, "--port", str(port),
                                "--datanodes", "1", "--replication", "1"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the local cluster exited with {process.returncode} (ports {port}-{port + 1} taken?)")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2).close()
            return process
        except OSError:
            time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    raise SystemExit("the local cluster did not start within 60 s")


def measure(namenode, runs):
    env = dict(os.environ, DFS_NAMENODE_URL=namenode)
    commands = {"dfs --help": ["--help"], "dfs --version": ["--version"], "dfs ls /": ["ls", "/"]}
    timed(DFS + ["ls", "/"], env)  # warm the page cache and the namenode once, uncounted
    times = {name: [] for name in commands}
    for _ in range(runs):  # interleaved, so a burst of load on the machine hits every command alike
        for name, argv in commands.items():
            times[name].append(timed(DFS + argv, env))
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--namenode", help="measure against this cluster instead of starting one")
    parser.add_argument("--port", type=int, default=18280, help="port of the cluster this script starts")
    parser.add_argument("--runs", type=int, default=11)
    args = parser.parse_args()
    cluster = None
    with tempfile.TemporaryDirectory(prefix="dfs-cli-startup-") as root:
        try:
            if args.namenode is None:
                cluster = local_cluster(root, args.port)
                args.namenode = f"http://127.0.0.1:{args.port}"
            times = measure(args.namenode, args.runs)
        finally:
            if cluster is not None:
                cluster.send_signal(signal.SIGTERM)
                cluster.wait(30)
    print(f"{'command':<16} {'median':>8} {'min':>8} {'max':>8} {'target':>8}   ({args.runs} runs, {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.1f})")
    for name, values in times.items():
        print(f"{name:<16} {statistics.median(values):8.3f} {min(values):8.3f} {max(values):8.3f} "
              f"{TARGETS[name]:8.1f}")


if __name__ == "__main__":
    main()
