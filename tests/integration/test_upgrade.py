"""A database and block directories written by release 1 (tests/fixtures/release1/) open in this release: every path
reads back as release 1 reported it, byte for byte, and the upgraded database takes writes and a second start."""

import getpass
import hashlib
import json
import os

from fixtures.make_release1 import OUT as RELEASE1, WebHdfs, manifest, pattern


def load_manifest():
    with open(os.path.join(RELEASE1, "manifest.json"), encoding="utf-8") as f:
        return json.load(f)


def assert_same_namespace(found, expected):
    """Path by path, so a failure names the path: status fields, file bytes (sha256), directory children."""
    for path, entry in expected.items():
        assert found.get(path) == entry, path
    assert sorted(found) == sorted(expected)


def wait_until_whole(cluster):
    cluster.wait_for(lambda s: s["totals"]["alive"] >= len(cluster.datanodes) and not s["totals"]["safemode"]
                     and s["totals"]["missing"] == 0 and s["totals"]["under_replicated"] == 0,
                     timeout=120, what="every datanode back, safe mode left, every replica found")


def test_release1_database_upgrades_and_reads_back(make_cluster):
    expected = load_manifest()
    cluster = make_cluster(seed=RELEASE1)
    wait_until_whole(cluster)
    fs = WebHdfs(cluster.url, user=getpass.getuser())  # the namenode's user: its superuser reads every file
    assert_same_namespace(manifest(fs), expected)

    data = pattern("after-upgrade", 5000)
    fs.create("/after-upgrade/new.bin", data, blocksize="1024")
    assert hashlib.sha256(fs.read("/after-upgrade/new.bin")).digest() == hashlib.sha256(data).digest()
    assert fs.status("/after-upgrade/new.bin")["length"] == len(data)

    before = manifest(fs)
    cluster.restart_namenode()
    wait_until_whole(cluster)
    assert_same_namespace(manifest(fs), before)
