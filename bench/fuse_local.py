"""The FUSE mount next to a local directory: dd write and read of one big file, untar of many small ones.

`.venv/bin/python bench/fuse_local.py [--namenode URL] [--size-mib 256] [--files 3000] [--rounds 2]`
starts a local cluster (python -m dfs.devcluster on four free ports) unless given a namenode, and prints a markdown
table for bench/fuse-local.md. The direct client's upload and download of the same file are the cluster's own speed.
"""

import argparse
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from dfs.client import BlockingClient

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [REPO, os.environ.get("PYTHONPATH")])))


def free_port_run(count=4):
    """A port p with p..p+count-1 all free on 127.0.0.1 (devcluster takes consecutive ports)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + count > 65535:
            continue
        try:
            for port in range(base, base + count):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
    raise SystemExit("no run of free ports found")


def start_cluster(root):
    port = free_port_run()
    process = subprocess.Popen([sys.executable, "-m", "dfs.devcluster", "--root", root, "--port", str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV,
                               start_new_session=True)
    for line in process.stdout:
        if "dfs cluster ready" in line:
            return process, f"http://127.0.0.1:{port}"
    raise SystemExit("the cluster did not start")


def mount(mountpoint, url):
    process = subprocess.Popen([sys.executable, "-m", "dfs.fuse", mountpoint, "--namenode", url, "-f"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    deadline = time.monotonic() + 30
    while not os.path.ismount(mountpoint):
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the mount did not come up")
        time.sleep(0.05)
    return process


def unmount(mountpoint, process):
    subprocess.run(["fusermount", "-u", mountpoint], check=True)
    process.wait(30)


def dd(source, target, *extra):
    """MB/s as dd reports it (decimal megabytes)."""
    out = subprocess.run(["dd", f"if={source}", f"of={target}", "bs=1M", *extra], capture_output=True, text=True,
                         check=True).stderr
    seconds = float(re.search(r"copied, ([0-9.]+) s", out).group(1))
    return os.path.getsize(source) / seconds / 1e6


def untar(archive, target):
    os.makedirs(target)
    start = time.monotonic()
    subprocess.run(["tar", "-xf", archive, "-C", target], check=True)
    return time.monotonic() - start


def make_inputs(work, size_mib, files):
    big = os.path.join(work, "big.bin")
    with open(big, "wb") as f:
        for _ in range(size_mib):
            f.write(os.urandom(1 << 20))
    tree = os.path.join(work, "tree")
    rng = random.Random(7)
    for i in range(files):
        directory = os.path.join(tree, f"d{i % 30}", f"e{i % 7}")
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, f"f{i}"), "wb") as f:
            f.write(rng.randbytes(rng.randint(0, 16384)))
    archive = os.path.join(work, "tree.tar")
    subprocess.run(["tar", "-cf", archive, "-C", tree, "."], check=True)
    return big, archive


def measure_local(work, big, archive):
    target = os.path.join(work, "local")
    os.makedirs(target)
    write = dd(big, os.path.join(target, "big.bin"), "conv=fsync")
    read = dd(os.path.join(target, "big.bin"), "/dev/null")
    seconds = untar(archive, os.path.join(target, "untar"))
    shutil.rmtree(target)
    return write, read, seconds


def measure_mount(work, url, big, archive, round_):
    mountpoint = os.path.join(work, "mnt")
    os.makedirs(mountpoint, exist_ok=True)
    process = mount(mountpoint, url)
    target = os.path.join(mountpoint, f"bench-{os.getpid()}-{round_}")
    os.makedirs(target)
    write = dd(big, os.path.join(target, "big.bin"), "conv=fsync")
    unmount(mountpoint, process)
    process = mount(mountpoint, url)
    try:
        read = dd(os.path.join(target, "big.bin"), "/dev/null")
        seconds = untar(archive, os.path.join(target, "untar"))
        shutil.rmtree(target)
    finally:
        unmount(mountpoint, process)
    return write, read, seconds


def measure_client(url, big):
    client = BlockingClient(url)
    path = f"/bench-client-{os.getpid()}.bin"
    size = os.path.getsize(big)
    start = time.monotonic()
    with open(big, "rb") as f:
        client.upload(path, f, overwrite=True)
    upload = size / (time.monotonic() - start) / 1e6
    with tempfile.TemporaryDirectory(dir=os.path.dirname(big)) as tmp:
        start = time.monotonic()
        client.download(path, os.path.join(tmp, "back"))
        download = size / (time.monotonic() - start) / 1e6
    client.rm(path)
    client.close()
    return upload, download


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--namenode", help="an existing cluster (default: start one)")
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--files", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="dfs-fuse-bench-")
    cluster = None
    try:
        url = args.namenode
        if url is None:
            cluster, url = start_cluster(os.path.join(work, "cluster"))
        big, archive = make_inputs(work, args.size_mib, args.files)
        print("| round | where | write MB/s (dd bs=1M conv=fsync) | read MB/s (dd bs=1M) "
              f"| untar {args.files} files, s | load average |")
        print("|---|---|---|---|---|---|")
        for round_ in range(1, args.rounds + 1):
            for where, run in (("local directory", lambda: measure_local(work, big, archive)),
                               ("dfs mount", lambda: measure_mount(work, url, big, archive, round_))):
                write, read, seconds = run()
                load = " ".join(f"{x:.1f}" for x in os.getloadavg())
                print(f"| {round_} | {where} | {write:.0f} | {read:.0f} | {seconds:.1f} | {load} |", flush=True)
            upload, download = measure_client(url, big)
            print(f"| {round_} | dfs.client upload / download | {upload:.0f} | {download:.0f} | | |", flush=True)
    finally:
        if cluster is not None:
            cluster.send_signal(signal.SIGTERM)
            cluster.wait(30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
