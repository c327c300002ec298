"""A datanode that shares no protocol version with its namenode (two releases apart) stops with exit status 1 and
one line naming both ranges, so a supervisor sees it fail: Docker swarm's update_config then rolls an update to an
incompatible release back."""

import os
import re
import shutil
import time

from cluster import Process, launcher_of

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


def test_a_datanode_refused_for_its_protocol_exits_1_naming_both_versions(tmp_path):
    namenode = Process("dfs-namenode", ["--listen", "tcp:0:interface=127.0.0.1", "--db", str(tmp_path / "nn.sqlite")],
                       str(tmp_path / "namenode.log"), launcher_of(release_two_ahead(tmp_path)))
    datanode = Process("dfs-datanode", ["--listen", "tcp:0:interface=127.0.0.1", "--root", str(tmp_path / "dn"),
                                        "--namenode", "", "--heartbeat", "0.5"], str(tmp_path / "datanode.log"))
    try:
        namenode.start()
        datanode.args[datanode.args.index("--namenode") + 1] = namenode.url
        datanode.start()
        deadline = time.monotonic() + 120
        while datanode.running():
            assert time.monotonic() < deadline, f"the datanode still runs:\n{datanode.log()[-3000:]}"
            time.sleep(0.2)
        last = datanode.log().rstrip("\n").splitlines()[-1]
        assert datanode.popen.returncode == 1, datanode.log()[-3000:]
        assert re.fullmatch(
            f"dfs datanode: stopped: namenode {re.escape(namenode.url)} shares no protocol version with this datanode"
            fr" \(5 registrations in a row\): datanode \S+ speaks protocol versions {protocol.OLDEST} to"
            f" {protocol.CURRENT}, older than this namenode's {protocol.CURRENT + 1} to {protocol.CURRENT + 2}:"
            " upgrade the datanode one release at a time", last), last
    finally:
        datanode.stop()
        namenode.stop()
