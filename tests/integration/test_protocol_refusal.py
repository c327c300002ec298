"""A datanode that shares no protocol version with its namenode (two releases apart) stops with exit status 1 and
one line naming both ranges, so a supervisor sees it fail: Docker swarm's update_config then rolls an update to an
incompatible release back. One that another namenode still takes keeps serving."""

import os
import re
import shutil
import time

from cluster import Process, launcher_of, source_twistd

from dfs import protocol

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def release_two_ahead(tmp_path):
    """This checkout's dfs/ and twisted/ with the protocol versions of the release after next: it speaks none of
    this release's."""
    future = tmp_path / "future"
    for tree in ("dfs", "twisted"):
        shutil.copytree(os.path.join(REPO, tree), future / tree,
                        ignore=shutil.ignore_patterns("__pycache__", "*.cache"))
    versions = future / "dfs" / "protocol.py"
    text = re.sub(r"(?m)^CURRENT = \d+", f"CURRENT = {protocol.CURRENT + 2}", versions.read_text())
    versions.write_text(re.sub(r"(?m)^OLDEST = \w+", f"OLDEST = {protocol.CURRENT + 1}", text))
    return future


def namenode(tmp_path, name, launcher=source_twistd):
    return Process("dfs-namenode", ["--listen", "tcp:0:interface=127.0.0.1", "--db", str(tmp_path / f"{name}.sqlite")],
                   str(tmp_path / f"{name}.log"), launcher)


def datanode(tmp_path, namenode_urls):
    return Process("dfs-datanode", ["--listen", "tcp:0:interface=127.0.0.1", "--root", str(tmp_path / "dn"),
                                    "--namenode", namenode_urls, "--heartbeat", "0.5"], str(tmp_path / "datanode.log"))


def test_a_datanode_refused_for_its_protocol_exits_1_naming_both_versions(tmp_path):
    future = namenode(tmp_path, "future", launcher_of(release_two_ahead(tmp_path)))
    node = datanode(tmp_path, "")
    try:
        future.start()
        node.args[node.args.index("--namenode") + 1] = future.url
        node.start()
        deadline = time.monotonic() + 120
        while node.running():
            assert time.monotonic() < deadline, f"the datanode still runs:\n{node.log()[-3000:]}"
            time.sleep(0.2)
        last = node.log().rstrip("\n").splitlines()[-1]
        assert node.popen.returncode == 1, node.log()[-3000:]
        assert re.fullmatch(
            f"dfs datanode: stopped: namenode {re.escape(future.url)} shares no protocol version with this datanode"
            fr" \(5 registrations in a row\): datanode \S+ speaks protocol versions {protocol.OLDEST} to"
            f" {protocol.CURRENT}, older than this namenode's {protocol.CURRENT + 1} to {protocol.CURRENT + 2}:"
            " upgrade the datanode one release at a time", last), last
    finally:
        for process in node, future:
            process.stop()


def test_a_datanode_another_namenode_takes_keeps_serving(tmp_path):
    future, current = namenode(tmp_path, "future", launcher_of(release_two_ahead(tmp_path))), namenode(tmp_path, "nn")
    node = datanode(tmp_path, "")
    try:
        future.start()
        current.start()
        node.args[node.args.index("--namenode") + 1] = f"{future.url},{current.url}"
        node.start()
        deadline = time.monotonic() + 120
        while node.log().count(f"cannot register with namenode {future.url}") < 8:  # past the five
            assert time.monotonic() < deadline and node.running(), node.log()[-3000:]
            time.sleep(0.2)
        assert node.running() and f"registered with namenode {current.url}" in node.log()
    finally:
        for process in node, current, future:
            process.stop()
