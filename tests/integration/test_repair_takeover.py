"""The leader killed (SIGKILL) while it re-replicates the blocks of a datanode that is gone: the other namenode takes
over within 15 s, finishes the repair, and fsck is healthy with every block at its replication."""

import os
import signal
import time

from test_failover import _cli, _leading, _poll

# One block each, about 225 of them on the datanode that goes. Repair copies small blocks in batches, hundreds a
# second; with one small block in flight per datanode (--replication-inflight 64K) it is under way for seconds.
FILES = 300
TAKEOVER = 15.0  # seconds


def test_killing_the_leader_during_repair_lets_the_other_take_over_and_finish_it(postgres_url, make_cluster, tmp_path):
    cluster = make_cluster(datanodes=4, namenodes=2,
                           namenode_args=["--db-url", postgres_url, "--replication-inflight", "64K"])
    source = tmp_path / "d"
    source.mkdir()
    files = {f"f{i}": os.urandom(3000 + i) for i in range(FILES)}
    for name, data in files.items():
        (source / name).write_bytes(data)
    _cli(tmp_path, cluster.urls)("put", "-r", str(source), "/")
    leader = _poll(lambda: next((n for n in cluster.namenodes if _leading(cluster, n)), None), 30, "a leader")
    other = next(n for n in cluster.namenodes if n is not leader)
    cluster.datanodes[0].stop(signal.SIGKILL)

    def repairing():
        totals = cluster.get_json("/cluster", url=leader.url)["totals"]
        return totals["copies_done"] > 0 and totals["under_replicated"] > 0

    _poll(repairing, 120, "the leader's re-replication under way")
    left = cluster.get_json("/cluster", url=leader.url)["totals"]["under_replicated"]
    leader.stop(signal.SIGKILL)
    killed = time.monotonic()
    _poll(lambda: _leading(cluster, other), 60, "the other namenode to take over")
    taken_over = time.monotonic() - killed

    def repaired():
        report = cluster.get_json("/cluster/fsck?path=/d", timeout=30, url=other.url)["totals"]
        return report if report["under_replicated"] == 0 else None

    report = _poll(repaired, 300, "the repair finished by the new leader")
    finished = time.monotonic() - killed
    print(f"leader killed with {left} blocks under-replicated; the other took over after {taken_over:.1f} s and"
          f" finished the repair {finished:.1f} s after the kill")
    assert taken_over < TAKEOVER
    assert report["status"] == "HEALTHY" and report["blocks"] == FILES, report
    on_other = _cli(tmp_path, other.url)
    for name, data in list(files.items())[::15]:
        assert on_other("cat", f"/d/{name}") == data
