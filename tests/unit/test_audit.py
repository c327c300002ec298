"""The audit trail (dfs.namenode.audit): HDFS's line format, rotation by size, the writer thread, the last denials."""

import os

import pytest
from twisted.internet.task import Clock

from dfs.namenode.audit import AuditEvent, AuditLog, format_line
from dfs.namenode.namespace.model import DIRECTORY, FILE, Inode

NOON = 1765022400.25  # 2025-12-06 12:00:00.250 UTC


def test_line_has_hdfs_fields_tab_separated():
    event = AuditEvent(NOON, True, "alice", "TOKEN", "127.0.0.1", "rename", "/a", "/b", "alice:alice:rw-r--r--")
    assert format_line(event) == (
        "2025-12-06 12:00:00,250 INFO FSNamesystem.audit: allowed=true\tugi=alice (auth:TOKEN)\tip=/127.0.0.1"
        "\tcmd=rename\tsrc=/a\tdst=/b\tperm=alice:alice:rw-r--r--\tproto=webhdfs\n")


def test_denied_proxy_line_with_absent_fields_as_null():
    event = AuditEvent(NOON, False, "bob", "TOKEN", "10.0.0.7", "open", "/home/alice/f", real_user="mount")
    assert format_line(event) == (
        "2025-12-06 12:00:00,250 INFO FSNamesystem.audit: allowed=false\tugi=bob (auth:PROXY) via mount (auth:TOKEN)"
        "\tip=/10.0.0.7\tcmd=open\tsrc=/home/alice/f\tdst=null\tperm=null\tproto=webhdfs\n")


@pytest.mark.parametrize("name, shown", [("/a\tb", "/a\\x09b"), ("/a\nallowed=true", "/a\\x0aallowed=true"),
                                         ("/a\\x09", "/a\\x5cx09"), ("/caf\u00e9 x", "/caf\u00e9 x")])
def test_a_name_cannot_split_a_field_or_forge_a_line(name, shown):
    line = format_line(AuditEvent(NOON, True, "alice", "TOKEN", "127.0.0.1", "create", name))
    assert line.count("\n") == 1 and line.count("\t") == 7
    assert f"\tsrc={shown}\t" in line


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read().splitlines()


def all_lines(path):
    """The lines of a trail and of its rotated files, oldest first."""
    rotated = sorted(int(name.rsplit(".", 1)[1]) for name in os.listdir(os.path.dirname(path))
                     if name.startswith(os.path.basename(path) + "."))
    return [line for p in [f"{path}.{n}" for n in reversed(rotated)] + [path] for line in read(p)]


def sources(lines):
    return [line.split("\tsrc=")[1].split("\t")[0] for line in lines]


def test_record_writes_perm_of_the_resulting_inode_and_keeps_denials(tmp_path):
    clock = Clock()
    clock.advance(NOON)
    trail = AuditLog(str(tmp_path / "audit.log"), clock, denials_kept=2, threaded=False)
    trail.record(True, "alice", "mkdirs", "/d", "127.0.0.1", inode=Inode(5, DIRECTORY, 0o1777, "alice", "staff", 0, 0))
    for n in range(3):
        trail.record(False, "bob", "delete", f"/d/{n}", "127.0.0.2", auth="SIMPLE")
    trail.close()
    lines = read(tmp_path / "audit.log")
    assert len(lines) == 4
    assert "\tperm=alice:staff:rwxrwxrwt\t" in lines[0]
    assert "allowed=false\tugi=bob (auth:SIMPLE)\tip=/127.0.0.2\tcmd=delete\tsrc=/d/2\t" in lines[3]
    assert [event.src for event in trail.recent_denials()] == ["/d/2", "/d/1"]
    assert os.stat(tmp_path / "audit.log").st_mode & 0o777 == 0o600


def test_rotation_by_size_keeps_the_newest_files(tmp_path, monkeypatch):
    def umask(mask):
        raise AssertionError("the process umask is shared with every thread: never change it")

    monkeypatch.setattr(os, "umask", umask)
    path = str(tmp_path / "audit.log")
    trail = AuditLog(path, Clock(), max_bytes=1000, backups=2, threaded=False)
    for n in range(40):
        trail.record(True, "alice", "create", f"/f{n:02d}", "127.0.0.1", inode=Inode(9, FILE, 0o644, "a", "a", 0, 0))
    trail.close()
    assert sorted(os.listdir(tmp_path)) == ["audit.log", "audit.log.1", "audit.log.2"]
    names = sources(all_lines(path))
    assert names == [f"/f{n:02d}" for n in range(40 - len(names), 40)]  # oldest file first, none lost between
    assert all(900 < os.path.getsize(p) <= 1000 for p in (path + ".1", path + ".2"))
    assert all(os.stat(p).st_mode & 0o777 == 0o600 for p in (path, path + ".1", path + ".2"))


def test_without_backups_a_full_file_starts_again(tmp_path):
    path = str(tmp_path / "audit.log")
    trail = AuditLog(path, Clock(), max_bytes=300, backups=0, threaded=False)
    for n in range(5):
        trail.record(True, "alice", "open", f"/f{n}", "127.0.0.1")
    trail.close()
    assert os.listdir(tmp_path) == ["audit.log"]
    assert sources(read(path)) == ["/f4"]


def test_writer_thread_writes_every_line_in_order(tmp_path):
    path = str(tmp_path / "audit.log")
    trail = AuditLog(path, Clock(), max_bytes=20_000, backups=50)
    for n in range(3000):
        trail.record(n % 2 == 0, "alice", "open", f"/f{n}", "127.0.0.1")
    trail.close()
    assert len(os.listdir(tmp_path)) > 20  # rotated within a line of the size, whatever the batches
    assert sources(all_lines(path)) == [f"/f{n}" for n in range(3000)]
    assert len(trail.recent_denials()) == 50
