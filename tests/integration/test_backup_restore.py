"""The restore drill with real processes: a namenode backs up its SQLite namespace, files are deleted and
overwritten and GC runs (grace 0, history off), more files are written, then the backup is restored. Every file of
the backup reads back with its bytes, because GC kept every block a kept backup names; a block lost since is named
by the namenode's fsck after safe mode."""

import hashlib
import os
import subprocess
import sys

import requests
from test_observability import CHROMIUM, browser, text_of

FILES = 40
OCTETS = {"Content-Type": "application/octet-stream"}


def content(n, version=0):
    return f"file {n} version {version}\n".encode() * (1 + n % 5)


def block_of(data):
    return hashlib.sha256(data).hexdigest()  # a one-block file's block id


def put(cluster, path, data):
    response = requests.put(f"{cluster.url}/webhdfs/v1{path}", params={"op": "CREATE", "data": "true",
                            "overwrite": "true"}, data=data, headers=OCTETS, timeout=120)
    assert response.status_code == 201, response.text


def get(cluster, path):
    return requests.get(f"{cluster.url}/webhdfs/v1{path}", params={"op": "OPEN"}, timeout=120)


def delete(cluster, path):
    response = requests.delete(f"{cluster.url}/webhdfs/v1{path}", params={"op": "DELETE"}, timeout=120)
    assert response.json() == {"boolean": True}


def dfs(cluster, *args):
    return subprocess.run([sys.executable, "-m", "dfs.cli", *args], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, DFS_NAMENODE_URL=cluster.url))


def blocks_on_disk(cluster):
    found = set()
    for i in range(len(cluster.datanodes)):
        found.update(cluster.block_files(i))
    return found


def test_a_restored_backup_finds_every_block_it_names(make_cluster, tmp_path):
    backups = tmp_path / "backups"
    cluster = make_cluster(datanodes=2, namenode_args=[
        "--replication", "2", "--gc-grace", "0", "--backup-dir", str(backups), "--backup-interval", "0"])
    for n in range(FILES):
        put(cluster, f"/data/f{n}", content(n))

    refused = requests.post(f"{cluster.url}/cluster/backup", params={"user.name": "bob"}, timeout=60)
    assert refused.status_code == 403, refused.text  # the superuser's
    taken = dfs(cluster, "admin", "backup")
    assert taken.returncode == 0, taken.stderr
    (name,) = os.listdir(backups)
    assert f"Backup {name} taken" in taken.stdout
    status = cluster.status()["backup"]
    assert (status["kept"], status["failures"], status["last"]["name"]) == (1, 0, name)
    metrics = requests.get(f"{cluster.url}/metrics", timeout=30).text
    assert f"dfs_backup_last_bytes {float(status['last']['bytes'])}" in metrics
    if CHROMIUM is not None:  # the status page says it too (test_observability checks the rest of the page)
        line = text_of(browser(cluster.url + "/", tmp_path / "profile", "--dump-dom"), "backup-text")
        assert line.startswith("last backup ") and line.endswith(" kept"), line

    for n in range(0, FILES, 2):
        delete(cluster, f"/data/f{n}")
    for n in range(1, FILES, 4):
        put(cluster, f"/data/f{n}", content(n, version=1))  # overwritten: the backup's version is unreferenced
    put(cluster, "/data/unbacked", b"never in a backup\n")
    delete(cluster, "/data/unbacked")
    unbacked = block_of(b"never in a backup\n")
    cluster.wait_for(lambda s: unbacked not in blocks_on_disk(cluster), timeout=120, what="GC to collect a block")
    backed_up = {block_of(content(n)) for n in range(FILES)}
    assert backed_up <= blocks_on_disk(cluster), "GC took a block the kept backup names"
    held = cluster.status()["totals"]["held"]
    gone = sum(len(content(n)) for n in range(FILES) if n % 2 == 0 or n % 4 == 1)  # deleted or overwritten
    assert (held["backups"], held["history"]) == (gone, 0)

    lost = 2  # a file deleted since the backup, whose block is then lost from every disk too
    for i, datanode in enumerate(cluster.datanodes):
        datanode.stop()
        os.remove(cluster.block_files(i)[block_of(content(lost))])
        datanode.restart_on_same_port()
    for _ in range(2):  # each start takes the lease at a new epoch, which the datanodes learn from GC's deletes
        cluster.restart_namenode()
        cluster.wait_for(lambda s: s["totals"]["alive"] == 2 and not s["totals"]["safemode"], timeout=120)
    for n in range(FILES, FILES + 10):
        put(cluster, f"/data/f{n}", content(n))
    delete(cluster, f"/data/f{FILES}")
    cluster.wait_for(lambda s: block_of(content(FILES)) not in blocks_on_disk(cluster), timeout=120,
                     what="GC under the newest epoch")

    cluster.namenode.stop()
    db = os.path.join(cluster.root, "namenode.sqlite")
    restored = dfs(cluster, "admin", "restore-backup", "--from", str(backups / name), "--to", db)
    assert restored.returncode == 0, restored.stderr
    cluster.namenode.restart_on_same_port()
    cluster.wait_for(lambda s: s["totals"]["alive"] == 2 and not s["totals"]["safemode"], timeout=120)

    for n in range(FILES):
        response = get(cluster, f"/data/f{n}")
        if n == lost:
            assert response.status_code != 200
        else:
            assert response.status_code == 200 and response.content == content(n), n
    assert get(cluster, f"/data/f{FILES + 1}").status_code == 404  # written after the backup
    report = cluster.fsck()
    assert [f["path"] for f in report["files"] if f["status"] != "healthy"] == [f"/data/f{lost}"]
    assert f"fsck: /data/f{lost} has 1 of its 1 blocks on no datanode" in cluster.namenode.log()

    after_backup = block_of(content(FILES + 1))  # named only by the namespace the restore replaced
    cluster.wait_for(lambda s: after_backup not in blocks_on_disk(cluster), timeout=120,
                     what="GC of the blocks written after the backup (the datanodes refuse an older lease epoch)")
