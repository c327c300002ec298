"""A datanode's data directories carry their layout version: recorded in a new one, upgraded in an older one, and
a newer one refuses the start with one line naming both versions, before anything there is touched."""

import io
import json
import os
import subprocess
import sys

import pytest

from dfs.datanode import layout
from dfs.datanode.blockstore import BlockStore


def recorded(root):
    with open(os.path.join(root, layout.FILE)) as f:
        return json.load(f)["layout"]


def test_a_new_directory_records_the_current_layout(tmp_path):
    BlockStore(str(tmp_path / "dn"))
    assert recorded(tmp_path / "dn") == layout.CURRENT


def test_an_older_directory_is_upgraded_and_keeps_its_blocks(tmp_path, monkeypatch):
    root = tmp_path / "dn"
    store = BlockStore(str(root))
    identity = store.identity()
    block_id, _ = store.commit_many_sync(io.BytesIO(b"kept"), [4])[0]
    os.remove(root / layout.FILE)  # as a datanode before layout versions left it
    steps = []
    monkeypatch.setitem(layout.STEPS, layout.CURRENT, steps.append)
    again = BlockStore(str(root))
    assert steps == [str(root)] and recorded(root) == layout.CURRENT
    assert again.identity() == identity and block_id in again.scan_sync()
    BlockStore(str(root))
    assert steps == [str(root)], "a directory at the current layout is upgraded once"


def test_a_newer_directory_is_refused_untouched(tmp_path):
    root = tmp_path / "dn"
    root.mkdir()
    (root / layout.FILE).write_text(json.dumps({"layout": layout.CURRENT + 1}))
    with pytest.raises(layout.LayoutTooNew, match=f"layout version {layout.CURRENT + 1}, newer than this dfs knows"
                                                  rf" \({layout.CURRENT}\)"):
        BlockStore(str(root))
    assert sorted(os.listdir(root)) == [layout.FILE]


def test_the_datanode_refuses_to_start_in_one_line(tmp_path):
    root = tmp_path / "dn"
    root.mkdir()
    (root / layout.FILE).write_text(json.dumps({"layout": layout.CURRENT + 1}))
    started = subprocess.run([sys.executable, "-m", "dfs.node", "datanode", "--root", str(root), "--listen",
                              "tcp:0:interface=127.0.0.1", "--namenode", "http://127.0.0.1:9"],
                             capture_output=True, timeout=120, text=True)
    assert started.returncode == 1
    assert started.stderr.strip() == (
        f"dfs datanode: data directory {root} has layout version {layout.CURRENT + 1}, newer than this dfs knows"
        f" ({layout.CURRENT}): run the dfs release that wrote it, or a newer one")
