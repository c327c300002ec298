"""Run pjdfstest (github.com/pjd/pjdfstest, the POSIX conformance suite) through a real dfs mount; print the tiers.

    python bench/pjdfstest.py --pjdfstest /tmp/pjdfstest [--code DIR] [--tiers core,nlink] [--failures]

Give it a pjdfstest build (``autoreconf -ifs && ./configure && make pjdfstest`` in a clone; never copied into this
repository). As root it starts a local cluster (``dfs.devcluster``) and mounts it with ``allow_other,
default_permissions`` (the suite switches users and expects the kernel to check permissions), runs each test file
from a fresh directory of the mount, and counts the suite's assertions (a file that stops early counts its missing
ones as failed). ``--code`` runs the cluster and the mount from another dfs tree (to measure a main checkout).
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The tiers (issue 20): each a list of pjdfstest's test directories, or single files of one. Directory
# nlink is rename/24.t, the suite's one file about it (13 assertions: 2 + subdirectories, before and after a rename
# moves a subdirectory, and its ".."); it is in the core tier's rename too.
TIERS = {
    "core": ["chmod", "ftruncate", "mkdir", "open", "rename", "rmdir", "symlink", "truncate", "unlink", "utimensat"],
    "owners": ["chown"],
    "special": ["mkfifo", "mknod"],
    "links": ["link"],
    "nlink": ["rename/24.t"],
}
FILE_TIMEOUT = 300


def test_files(build, entry):
    """The test files (relative to the build's tests/) of a tier's entry: one file, or a directory's."""
    if entry.endswith(".t"):
        return [entry]
    return [f"{entry}/{name}" for name in sorted(os.listdir(os.path.join(build, "tests", entry))) if name.endswith(".t")]


def run_file(path, workdir):
    """(passed, planned, failing assertion lines) of one pjdfstest file run from ``workdir``."""
    try:
        result = subprocess.run(["prove", "-v", path], cwd=workdir, capture_output=True, text=True,
                                timeout=FILE_TIMEOUT)
        output = result.stdout
    except subprocess.TimeoutExpired as e:
        output = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
    plan = re.search(r"^1\.\.(\d+)", output, re.M)
    passed = len(re.findall(r"^ok \d+", output, re.M))
    failing = re.findall(r"^not ok \d+.*$", output, re.M)
    planned = int(plan.group(1)) if plan else passed + len(failing)
    return passed, max(planned, passed + len(failing)), failing


def start(code, root, port, options):
    """A cluster and a mount on ``root``/mnt; the processes, to stop."""
    env = dict(os.environ, PYTHONPATH=code)
    log = open(os.path.join(root, "cluster.log"), "ab")
    proxy = []
    if os.path.exists(os.path.join(code, "dfs", "namenode", "proxyusers.py")):
        # A tree whose mount acts for each caller (allow_other): the namenode lets the mount's user, root, do so.
        proxy = ["--proxy-users", os.path.join(root, "proxy-users")]
        with open(proxy[1], "w") as f:
            f.write("root: users=*\n")
    cluster = subprocess.Popen([sys.executable, "-m", "dfs.devcluster", "--root", os.path.join(root, "cluster"),
                                "--port", str(port), "--datanodes", "1", "--replication", "1", *proxy],
                               stdout=log, stderr=subprocess.STDOUT, env=env, cwd=code, start_new_session=True)
    wait_for(lambda: b"cluster ready" in open(os.path.join(root, "cluster.log"), "rb").read(), cluster, "the cluster")
    mountpoint = os.path.join(root, "mnt")
    os.makedirs(mountpoint)
    mount = subprocess.Popen([sys.executable, "-m", "dfs.fuse", mountpoint, "--namenode", f"http://127.0.0.1:{port}",
                              "-f", "-o", ",".join(["allow_other", "default_permissions", *options])], stdout=log, stderr=subprocess.STDOUT,
                             env=env, cwd=code)  # python -m puts the working directory first on sys.path
    wait_for(lambda: os.path.ismount(mountpoint), mount, "the mount")
    return mountpoint, [mount, cluster]


def wait_for(predicate, process, what, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if process.poll() is not None:
            raise SystemExit(f"{what} exited with {process.returncode}")
        time.sleep(0.2)
    raise SystemExit(f"{what} did not come up within {timeout} s")


def stop(mountpoint, processes):
    if mountpoint and os.path.ismount(mountpoint):
        subprocess.run(["fusermount", "-u", "-z", mountpoint], check=False)
    for process in processes:  # the mount exits once unmounted; devcluster stops its processes on SIGTERM
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pjdfstest", required=True, help="a pjdfstest build (the directory holding tests/)")
    parser.add_argument("--code", default=REPO, help="the dfs tree to run (default: this one)")
    parser.add_argument("--tiers", default=",".join(TIERS), help=f"comma-separated, of {', '.join(TIERS)}")
    parser.add_argument("--port", type=int, default=18180)
    parser.add_argument("--failures", action="store_true", help="print every failing assertion")
    parser.add_argument("-o", dest="options", action="append", default=[],
                        help="another mount option (attr_timeout=0: the kernel keeps no attributes)")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("pjdfstest runs as root (it switches users to test permissions)")
    root = tempfile.mkdtemp(prefix="dfs-pjdfstest-")
    mountpoint, processes = None, []
    try:
        mountpoint, processes = start(os.path.abspath(args.code), root, args.port, args.options)
        totals = {}
        for tier in args.tiers.split(","):
            for entry in TIERS[tier]:
                passed = planned = 0
                for name in test_files(args.pjdfstest, entry):
                    workdir = tempfile.mkdtemp(dir=mountpoint)
                    os.chmod(workdir, 0o755)  # the suite's other users must reach what it makes there
                    ok, count, failing = run_file(os.path.join(args.pjdfstest, "tests", name), workdir)
                    passed, planned = passed + ok, planned + count
                    if args.failures:
                        for line in failing:
                            print(f"  {name}: {line}", flush=True)
                print(f"{tier:8} {entry:11} {passed:4} / {planned}", flush=True)
                tier_passed, tier_planned = totals.get(tier, (0, 0))
                totals[tier] = (tier_passed + passed, tier_planned + planned)
        for tier, (passed, planned) in totals.items():
            print(f"{tier:8} {'total':11} {passed:4} / {planned}")
    finally:
        stop(mountpoint, processes)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
