"""Run HdfsCLI's own test suite against a fresh local dfs cluster and print its figures.

    git clone https://github.com/mtth/hdfs /tmp/hdfscli && git -C /tmp/hdfscli checkout v2.7.3
    python3 -m venv /tmp/hdfscli-venv
    /tmp/hdfscli-venv/bin/pip install pytest requests six docopt fastavro pandas
    .venv/bin/python bench/hdfscli_upstream.py /tmp/hdfscli --python /tmp/hdfscli-venv/bin/python

The source tree is HdfsCLI's repository (github.com/mtth/hdfs) checked out at some tag; its tests run with the
interpreter given by --python, which needs pytest and HdfsCLI's test dependencies (requests, six, docopt, fastavro,
pandas). The cluster (python -m dfs.devcluster, three datanodes) runs from this work tree with this interpreter, on
free loopback ports, with its data in a temporary directory that is removed afterwards.
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

from fuse_local import start_cluster  # devcluster on free loopback ports, 3 datanodes


def stop_cluster(process):
    """SIGTERM makes devcluster stop the namenode and datanodes it started before it exits."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def run_suite(source, python, url, report, extra):
    """Run the upstream suite from its own tree, so its `hdfs` package (not an installed one) is under test."""
    env = dict(os.environ, HDFSCLI_TEST_URL=url, PYTHONPATH=source)
    env.pop("HDFSCLI_TEST_ALIAS", None)  # would take precedence over the URL
    command = [python, "-m", "pytest", "-p", "no:cacheprovider", "-q", f"--junitxml={report}", *extra, "test"]
    if subprocess.run([python, "-c", "import requests_kerberos"], capture_output=True).returncode != 0:
        # Its Kerberos tests need requests-kerberos (which needs krb5 headers to build); they never reach a cluster.
        print("requests-kerberos is not installed: test/test_ext_kerberos.py is left out", flush=True)
        command[-1:-1] = ["--ignore", "test/test_ext_kerberos.py"]
    subprocess.run(command, cwd=source, env=env)


OUTCOMES = [("failure", "failed"), ("error", "errors"), ("skipped", "skipped")]  # JUnit tag, our name


def summarise(report):
    """Counts and the failing tests from pytest's JUnit XML (an error is a failure in a test's setup or teardown)."""
    counts = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}
    failing = []
    for case in ET.parse(report).getroot().iter("testcase"):
        outcome = next((name for tag, name in OUTCOMES if case.find(tag) is not None), "passed")
        counts[outcome] += 1
        if outcome in ("failed", "errors"):
            failing.append(f"{outcome}: {case.get('classname')}::{case.get('name')}")
    return counts, failing


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="HdfsCLI's source tree (holds hdfs/ and test/)")
    parser.add_argument("--python", default=sys.executable, help="interpreter with pytest and HdfsCLI's test deps")
    parser.add_argument("--keep", action="store_true", help="keep the cluster's data and logs")
    args, extra = parser.parse_known_args(argv)  # the rest goes to pytest (-k EXPR, -x, --tb=short...)

    source = os.path.abspath(args.source)
    if not os.path.isdir(os.path.join(source, "test")) or not os.path.isdir(os.path.join(source, "hdfs")):
        raise SystemExit(f"{source}: not an HdfsCLI source tree (no hdfs/ and test/)")
    root = tempfile.mkdtemp(prefix="dfs-hdfscli-")
    cluster, url = start_cluster(root)
    print(f"dfs cluster at {url} (pid {cluster.pid}, data in {root})", flush=True)
    report = os.path.join(root, "report.xml")
    try:
        run_suite(source, args.python, url, report, extra)
    finally:
        stop_cluster(cluster)
    if not os.path.exists(report):
        raise SystemExit(f"pytest wrote no report: does {args.python} have pytest? (data and logs in {root})")
    counts, failing = summarise(report)
    if args.keep:
        print(f"data and logs kept in {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)
    print(", ".join(f"{n} {k}" for k, n in counts.items()))
    for line in failing:
        print(line)
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
