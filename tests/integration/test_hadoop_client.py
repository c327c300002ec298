"""Hadoop's own WebHDFS client (FsShell, as `hdfs dfs`) against dfs: every command whose feature dfs has, with the
exit code HDFS gives, and those of features dfs lacks failing as cleanly. Needs Java (with javac) and Hadoop's client
jars: DFS_HADOOP_JARS=<dir> (pyspark==4.1.4 ships them in pyspark/jars), which .ci/run provides; skipped otherwise,
except in CI (CI=true), where their absence fails."""

import base64
import getpass
import gzip
import glob
import os
import shutil
import subprocess
from typing import NamedTuple

import pytest
import requests

JARS = os.environ.get("DFS_HADOOP_JARS", "")
pytestmark = pytest.mark.skipif(not (JARS and os.path.isdir(JARS) and shutil.which("javac")) and not os.environ.get("CI"),
                                reason="needs a JDK and DFS_HADOOP_JARS (Hadoop 3.4 client jars)")
DRIVERS = os.path.join(os.path.dirname(__file__), "..", "fixtures", "hadoop")


# The namenode's user, its superuser: the files these tests set up belong to the default owner, and setting a
# quota is the superuser's (the permission matrix tests the checks themselves).
HADOOP_USER = getpass.getuser()


def resolve(cluster, args):
    """``webhdfs:/p`` arguments as URLs of ``cluster``."""
    base = "webhdfs://" + cluster.url.split("://", 1)[1]
    return [arg.replace("webhdfs:", base, 1) if arg.startswith("webhdfs:") else arg for arg in args]


def java(classpath, *args, timeout=300):
    # The JVM sends a path's non-ASCII characters in its default charset, UTF-8 only on a UTF-8 locale.
    return subprocess.run(["java", "-Dfile.encoding=UTF-8", "-cp", f"{classpath}:{JARS}/*", *args],
                          capture_output=True, timeout=timeout,
                          env=dict(os.environ, HADOOP_USER_NAME=HADOOP_USER, TZ="UTC"))


def fs_shell(cluster, tmp_path, *args):
    (tmp_path / "core-site.xml").write_text("<configuration/>")
    done = java(tmp_path, "org.apache.hadoop.fs.FsShell", *resolve(cluster, args))
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture(scope="session")
def drivers(tmp_path_factory):
    """The Java drivers in tests/fixtures/hadoop, compiled once, beside the empty core-site.xml FsShell needs."""
    classes = tmp_path_factory.mktemp("hadoop-drivers")
    (classes / "core-site.xml").write_text("<configuration/>")
    done = subprocess.run(["javac", "-d", str(classes), "-cp", f"{JARS}/*", *glob.glob(f"{DRIVERS}/*.java")],
                          capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()
    return classes


class Ran(NamedTuple):
    """One FsShell command's exit code, stdout and stderr."""

    code: int
    out: bytes
    err: str


def shell_batch(cluster, drivers, tmp_path, commands):
    """Run each command of ``commands`` (argument lists; ``webhdfs:/p`` names a path on ``cluster``) through
    FsShell in one JVM; their Ran in order."""
    listed = tmp_path / "commands"
    listed.write_text("".join("\t".join(resolve(cluster, command)) + "\n" for command in commands), encoding="utf-8")
    done = java(drivers, "ShellBatch", str(listed), timeout=600)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
    answers = [line.split("\t") for line in done.stdout.decode().splitlines()]
    assert len(answers) == len(commands), done.stderr.decode(errors="replace")[-3000:]
    return [Ran(int(code), base64.b64decode(out), base64.b64decode(err).decode(errors="replace"))
            for code, out, err in answers]


def run_expecting(cluster, drivers, tmp_path, expected):
    """Run ``expected``'s commands, each ``(exit code HDFS gives, *arguments)``, and check every exit code; the
    Ran of each, by its position."""
    ran = shell_batch(cluster, drivers, tmp_path, [command for _, *command in expected])
    got = [(" ".join(command), r.code, r.err.strip()[:300]) for (_, *command), r in zip(expected, ran)]
    assert [(c, code) for c, code, _ in got] == [(" ".join(command), code) for code, *command in expected], \
        "\n".join(f"{code} {c}: {err}" for c, code, err in got)
    return ran


@pytest.mark.parametrize("block_size", [None, 1 << 20])
def test_tail_and_cat(cluster, unique_dir, tmp_path, block_size):
    data = os.urandom(5_000_000)
    cluster.put(f"{unique_dir}/f", data, **({"blocksize": block_size} if block_size else {}))
    assert fs_shell(cluster, tmp_path, "-tail", f"webhdfs:{unique_dir}/f") == data[-1024:]
    assert fs_shell(cluster, tmp_path, "-cat", f"webhdfs:{unique_dir}/f") == data


def test_df_count_checksum_and_rm(cluster, unique_dir, tmp_path):
    """-df (GETSTATUS), -count -q -u (GETQUOTAUSAGE), -checksum (Hadoop's MD5-of-MD5-of-CRC32C) and a plain -rm,
    which asks GETSERVERDEFAULTS whether the server keeps trash before it deletes."""
    data = os.urandom(5000)
    cluster.put(f"{unique_dir}/f", data, blocksize=2048)
    df = fs_shell(cluster, tmp_path, "-df", "webhdfs:/").decode().splitlines()
    assert df[0].split()[:2] == ["Filesystem", "Size"] and int(df[1].split()[1]) > 0
    count = fs_shell(cluster, tmp_path, "-count", "-q", "-u", f"webhdfs:{unique_dir}").decode().split()
    assert count[:4] == ["none", "inf", "none", "inf"]
    checksum = requests.get(f"{cluster.url}/webhdfs/v1{unique_dir}/f", params={"op": "GETFILECHECKSUM"},
                            timeout=60).json()["FileChecksum"]
    line = fs_shell(cluster, tmp_path, "-checksum", f"webhdfs:{unique_dir}/f").decode().split()
    assert line[1:] == ["MD5-of-4MD5-of-512CRC32C", checksum["bytes"]]
    fs_shell(cluster, tmp_path, "-rm", f"webhdfs:{unique_dir}/f")
    assert requests.get(f"{cluster.url}/webhdfs/v1{unique_dir}/f", params={"op": "GETFILESTATUS"},
                        timeout=60).status_code == 404


def test_recursive_commands_page_through_liststatus_batch(make_cluster, tmp_path):
    """-ls -R, -du and -find list directories with LISTSTATUS_BATCH only (no fallback to LISTSTATUS); pages of two
    entries make every directory take several."""
    cluster = make_cluster(datanodes=1, namenode_args=("--list-limit", "2", "--replication", "1",
                                                       "--min-replicas", "1"))
    for path in ("/t/a", "/t/b", "/t/c", "/t/sub/d", "/t/sub/e", "/t/sub/f"):
        cluster.put(path, b"12345")
    listed = fs_shell(cluster, tmp_path, "-ls", "-R", "webhdfs:/t").decode().splitlines()
    assert [line.split()[-1].split("/t", 1)[1] for line in listed] == \
        ["/a", "/b", "/c", "/sub", "/sub/d", "/sub/e", "/sub/f"]
    du = fs_shell(cluster, tmp_path, "-du", "-s", "webhdfs:/t").decode().split()
    assert du[:2] == ["30", "30"]
    found = fs_shell(cluster, tmp_path, "-find", "webhdfs:/t", "-name", "e").decode().split()
    assert [f.split("/t", 1)[1] for f in found] == ["/sub/e"]


def test_setfattr_and_getfattr(cluster, unique_dir, tmp_path):
    """-setfattr/-getfattr (SETXATTR with Hadoop's hex values, GETXATTRS and LISTXATTRS) and -setfattr -x."""
    cluster.put(f"{unique_dir}/f", b"x")
    fs_shell(cluster, tmp_path, "-setfattr", "-n", "user.color", "-v", "blue", f"webhdfs:{unique_dir}/f")
    fs_shell(cluster, tmp_path, "-setfattr", "-n", "user.raw", "-v", "0x00ff", f"webhdfs:{unique_dir}/f")
    dumped = fs_shell(cluster, tmp_path, "-getfattr", "-d", "-e", "hex", f"webhdfs:{unique_dir}/f").decode()
    assert dumped.splitlines()[1:] == ["user.color=0x626c7565", "user.raw=0x00ff"]
    one = fs_shell(cluster, tmp_path, "-getfattr", "-n", "user.color", f"webhdfs:{unique_dir}/f").decode()
    assert one.splitlines()[1:] == ['user.color="blue"']
    fs_shell(cluster, tmp_path, "-setfattr", "-x", "user.color", f"webhdfs:{unique_dir}/f")
    r = requests.get(f"{cluster.url}/webhdfs/v1{unique_dir}/f", params={"op": "LISTXATTRS"}, timeout=60)
    assert r.json() == {"XAttrNames": '["user.raw"]'}


def test_count_q_shows_quotas_and_chmod_r(cluster, unique_dir, tmp_path):
    """-count -q reads the quotas SETQUOTA set (GETCONTENTSUMMARY); -chmod -R walks with LISTSTATUS_BATCH."""
    for name in ("a", "sub/b"):
        cluster.put(f"{unique_dir}/{name}", b"12345", replication=1)
    r = requests.put(f"{cluster.url}/webhdfs/v1{unique_dir}", params={"op": "SETQUOTA", "namespacequota": 10,
                     "storagespacequota": 1000}, timeout=60)
    assert r.status_code == 200, r.text
    count = fs_shell(cluster, tmp_path, "-count", "-q", f"webhdfs:{unique_dir}").decode().split()
    assert count[:7] == ["10", "6", "1000", "990", "2", "2", "10"]
    fs_shell(cluster, tmp_path, "-chmod", "-R", "700", f"webhdfs:{unique_dir}")
    r = requests.get(f"{cluster.url}/webhdfs/v1{unique_dir}/sub/b", params={"op": "GETFILESTATUS"}, timeout=60)
    assert r.json()["FileStatus"]["permission"] == "700"


def test_shell_copies_moves_and_removes(cluster, drivers, unique_dir, tmp_path):
    """-mkdir, -put/-copyFromLocal, -get/-copyToLocal, -cp, -mv, -moveFromLocal, -appendToFile, -concat, -getmerge,
    -truncate, -rm (to trash, -r, -skipTrash, -f), -rmdir and -expunge, each with HDFS's exit code."""
    d, local = f"webhdfs:{unique_dir}", tmp_path / "local"
    (local / "dir" / "sub").mkdir(parents=True)
    data = os.urandom(5000)
    (local / "f1").write_bytes(data)
    (local / "f2").write_bytes(b"hello\n")
    (local / "dir" / "a").write_bytes(b"one\n")
    (local / "dir" / "sub" / "b").write_bytes(b"two\n")
    (local / "moving").write_bytes(b"moved\n")
    got = tmp_path / "got"
    got.mkdir()
    trash = f"webhdfs:/user/{HADOOP_USER}/.Trash/Current{unique_dir}"
    run_expecting(cluster, drivers, tmp_path, [
        (0, "-mkdir", "-p", f"{d}/a/b"),
        (1, "-mkdir", f"{d}/a"),  # File exists
        (1, "-mkdir", f"{d}/x/y"),  # No such file or directory (the parent)
        (0, "-put", f"{local}/f1", f"{d}/a/f1"),
        (1, "-put", f"{local}/f1", f"{d}/a/f1"),  # File exists
        (0, "-put", "-f", f"{local}/f1", f"{d}/a/f1"),
        (0, "-copyFromLocal", f"{local}/f2", f"{d}/a/"),
        (0, "-copyFromLocal", "-t", "2", f"{local}/dir", f"{d}/dir"),
        (0, "-put", "-p", f"{local}/f2", f"{d}/kept"),
        (0, "-put", f"{local}/f2", f"{d}/sp ace+ü%"),
        (0, "-get", f"{d}/a/f1", f"{got}/f1"),
        (1, "-get", f"{d}/a/f1", f"{got}/f1"),  # File exists
        (0, "-copyToLocal", f"{d}/dir", f"{got}/dir"),
        (0, "-get", f"{d}/sp ace+ü%", f"{got}/named"),
        (0, "-cp", f"{d}/a/f1", f"{d}/a/f3"),
        (1, "-cp", f"{d}/a/f1", f"{d}/a/f3"),  # File exists
        (0, "-cp", "-f", "-p", f"{d}/a/f1", f"{d}/a/f3"),
        (0, "-cp", f"{d}/dir", f"{d}/dir2"),
        (0, "-mv", f"{d}/a/f3", f"{d}/a/f4"),
        (1, "-mv", f"{d}/missing", f"{d}/z"),  # No such file or directory
        (1, "-mv", f"{d}/a/f4", f"{d}/a/f2"),  # File exists
        (0, "-mv", f"{d}/dir2", f"{d}/a"),  # into the directory
        (0, "-moveFromLocal", f"{local}/moving", f"{d}/a/moved"),
        (0, "-appendToFile", f"{local}/f2", f"{d}/a/f2"),
        (0, "-appendToFile", f"{local}/f2", f"{d}/a/new"),
        (0, "-appendToFile", f"{local}/f2", f"{d}/a/new2"),
        (0, "-concat", f"{d}/a/f2", f"{d}/a/new", f"{d}/a/new2"),
        (0, "-getmerge", "-nl", f"{d}/dir", f"{got}/merged"),
        (0, "-truncate", "-w", "10", f"{d}/a/f1"),
        (0, "-rm", f"{d}/a/moved"),
        (0, "-test", "-e", f"{trash}/a/moved"),
        (1, "-rm", f"{d}/missing"),  # No such file or directory
        (1, "-rm", f"{d}/a"),  # Is a directory
        (0, "-rm", "-r", f"{d}/a/dir2"),
        (0, "-rm", "-skipTrash", f"{d}/a/f4"),
        (0, "-rm", "-f", f"{d}/missing"),
        (0, "-mkdir", f"{d}/empty"),
        (0, "-rmdir", f"{d}/empty"),
        (1, "-rmdir", f"{d}/a"),  # Directory is not empty
        (0, "-rmdir", "--ignore-fail-on-non-empty", f"{d}/a"),
        (0, "-expunge"),
    ])
    assert (got / "f1").read_bytes() == data and (got / "named").read_bytes() == b"hello\n"
    assert (got / "dir" / "sub" / "b").read_bytes() == b"two\n"
    assert (got / "merged").read_bytes() == b"one\n\n"  # the files of the directory itself, each with a newline
    assert not (local / "moving").exists()
    files = {path: stat(cluster, f"{unique_dir}/{path}") for path in
             ("a/f1", "a/f2", "a/new", "a/f4", "a/dir2", "a/moved", "dir/sub/b", "kept", "sp ace+ü%")}
    assert files["a/f1"]["length"] == 10 and files["a/f2"]["length"] == 24 and files["dir/sub/b"]["length"] == 4
    assert files["a/new"] is files["a/f4"] is files["a/dir2"] is files["a/moved"] is None
    assert files["kept"]["modificationTime"] == (local / "f2").stat().st_mtime_ns // 1_000_000
    assert read(cluster, f"{unique_dir}/a/f2") == b"hello\n" * 4


def stat(cluster, path):
    """The FileStatus at ``path``, None when there is nothing."""
    r = requests.get(f"{cluster.url}/webhdfs/v1{path}", params={"op": "GETFILESTATUS"}, timeout=60)
    return r.json()["FileStatus"] if r.status_code == 200 else None


def read(cluster, path):
    r = requests.get(f"{cluster.url}/webhdfs/v1{path}", params={"op": "OPEN"}, timeout=60)
    assert r.status_code == 200, r.text
    return r.content


def test_shell_lists_reads_and_tests(cluster, drivers, unique_dir, tmp_path):
    """-ls and its options, -cat, -text (gzip), -head, -tail, -stat, -test, -du, -df, -count, -checksum, -find and
    -getfacl of a file without an ACL, with HDFS's exit codes and output."""
    d = f"webhdfs:{unique_dir}"
    data = os.urandom(5000)
    cluster.put(f"{unique_dir}/f", data)
    cluster.put(f"{unique_dir}/empty", b"")
    cluster.put(f"{unique_dir}/sub/g", b"hello\n")
    cluster.put(f"{unique_dir}/h.gz", gzip.compress(b"hello world\n"))
    ran = run_expecting(cluster, drivers, tmp_path, [
        (0, "-ls", d),
        (0, "-ls", "-R", d),
        (0, "-ls", "-d", d),
        (0, "-ls", "-h", "-S", d),
        (0, "-ls", "-C", "-r", d),
        (1, "-ls", f"{d}/missing"),
        (0, "-cat", f"{d}/f"),
        (1, "-cat", f"{d}/sub"),  # Is a directory
        (0, "-text", f"{d}/h.gz"),
        (0, "-head", f"{d}/f"),
        (0, "-tail", f"{d}/f"),
        (0, "-stat", "%n %o %r %b %F %u %g %a %A", f"{d}/f"),
        (0, "-stat", "%F %b", f"{d}/sub"),
        (0, "-test", "-e", f"{d}/f"),
        (1, "-test", "-e", f"{d}/missing"),
        (0, "-test", "-d", f"{d}/sub"),
        (1, "-test", "-d", f"{d}/f"),
        (0, "-test", "-f", f"{d}/f"),
        (1, "-test", "-f", f"{d}/sub"),
        (0, "-test", "-z", f"{d}/empty"),
        (1, "-test", "-z", f"{d}/f"),
        (0, "-test", "-s", f"{d}/f"),
        (1, "-test", "-s", f"{d}/empty"),
        (0, "-test", "-r", f"{d}/f"),  # CHECKACCESS
        (0, "-test", "-w", f"{d}/f"),
        (0, "-du", d),
        (0, "-du", "-s", "-v", d),
        (0, "-df", "-h", d),
        (0, "-count", "-v", d),
        (0, "-count", "-q", "-u", d),
        (0, "-count", "-e", d),  # the ecPolicy of GETCONTENTSUMMARY
        (0, "-checksum", f"{d}/f"),
        (0, "-find", d, "-name", "g", "-print"),
        (0, "-getfacl", f"{d}/f"),
        (0, "-ls", "-e", d),  # the ecPolicy of GETCONTENTSUMMARY again
    ])
    lines = [r.out.decode(errors="replace").splitlines() for r in ran]
    base = "webhdfs://" + cluster.url.split("://", 1)[1] + unique_dir
    owner, block_size = (stat(cluster, f"{unique_dir}/f")[key] for key in ("owner", "blockSize"))
    assert lines[0][0] == "Found 4 items" and [line.split()[-1] for line in lines[0][1:]] == \
        [f"{base}/{name}" for name in ("empty", "f", "h.gz", "sub")]
    assert lines[0][2].split()[:5] == ["-rw-r--r--", "3", owner, "supergroup", "5000"]
    assert [line.split()[-1] for line in lines[1]] == [f"{base}/{name}" for name in ("empty", "f", "h.gz", "sub",
                                                                                      "sub/g")]
    assert lines[2][0].startswith("drwxr-xr-x") and lines[2][0].endswith(base)
    assert [line.split()[-1] for line in lines[3][1:3]] == [f"{base}/f", f"{base}/h.gz"]
    assert lines[3][1].split()[4:6] == ["4.9", "K"]
    assert lines[4] == [f"{base}/{name}" for name in ("sub", "h.gz", "f", "empty")]
    assert ran[6].out == data and ran[8].out == b"hello world\n"
    assert ran[9].out == data[:1024] and ran[10].out == data[-1024:]
    assert lines[11] == [f"f {block_size} 3 5000 regular file {owner} supergroup 644 rw-r--r--"]
    assert lines[12] == ["directory 0"]
    assert lines[25] == [f"0     0      {base}/empty", f"5000  15000  {base}/f", f"32    96     {base}/h.gz",
                         f"6     18     {base}/sub"]
    assert lines[26][1].split() == ["5038", "15114", base]
    assert lines[27][0].split() == ["Filesystem", "Size", "Used", "Available", "Use%"]
    assert lines[28][1].split() == ["2", "4", "5038", base]
    assert lines[29][0].split() == ["none", "inf", "none", "inf", base]
    assert lines[30][0].split() == ["2", "4", "5038", "Replicated", base]
    assert lines[31][0].split()[1] == "MD5-of-0MD5-of-512CRC32C"
    assert lines[32] == [f"{base}/sub/g"]
    assert lines[33] == [f"# file: {base}/f", f"# owner: {owner}", "# group: supergroup", "user::rw-",
                         "group::r--", "other::r--", ""]
    assert {line.split()[4] for line in lines[34][1:]} == {"Replicated"}


def test_shell_changes_metadata(cluster, drivers, unique_dir, tmp_path):
    """-chmod, -chown, -chgrp (-R), -setrep (-w, of a directory), -touchz, -touch, -truncate, -setfattr/-getfattr
    and -setfacl with HDFS's exit codes; snapshots, which dfs lacks, fail cleanly (exit 1, the op named)."""
    d = f"webhdfs:{unique_dir}"
    cluster.put(f"{unique_dir}/f", b"0123456789")
    cluster.put(f"{unique_dir}/sub/g", b"hello\n")
    cluster.put(f"{unique_dir}/sub/deeper/h", b"hello\n")
    ran = run_expecting(cluster, drivers, tmp_path, [
        (0, "-chmod", "-R", "700", d),
        (0, "-chmod", "u-w,g+r", f"{d}/f"),
        (0, "-chmod", "1777", f"{d}/sub/deeper"),
        (0, "-chown", "bob:staff", f"{d}/f"),
        (0, "-chgrp", "wheel", f"{d}/f"),
        (0, "-chown", "-R", "carol:devs", f"{d}/sub"),
        (0, "-setrep", "-w", "2", f"{d}/f"),
        (0, "-setrep", "1", f"{d}/sub"),
        (0, "-touchz", f"{d}/z"),
        (1, "-touchz", f"{d}/f"),  # Not a zero-length file
        (0, "-touch", f"{d}/t"),
        (0, "-touch", "-m", "-t", "20200101:000000", f"{d}/t"),
        (0, "-touch", "-a", "-t", "20210101:000000", f"{d}/t"),
        (0, "-touch", "-c", f"{d}/none"),
        (1, "-test", "-e", f"{d}/none"),
        (0, "-stat", "%y %x", f"{d}/t"),
        (0, "-truncate", "3", f"{d}/f"),
        (0, "-setfattr", "-n", "user.k", "-v", "v", f"{d}/f"),
        (0, "-getfattr", "-d", f"{d}/f"),
        (1, "-getfattr", "-n", "user.none", f"{d}/f"),  # At least one of the attributes provided was not found.
        (1, "-setfattr", "-n", "system.k", "-v", "v", f"{d}/f"),  # User doesn't have permission for xattr
        (0, "-setfattr", "-x", "user.k", f"{d}/f"),
        (1, "-setfattr", "-x", "user.k", f"{d}/f"),  # No matching attributes found for remove operation
        (0, "-getfacl", "-R", d),
        (0, "-setfacl", "-m", "user:bob:rwx", f"{d}/f"),
        (0, "-setfacl", "-b", f"{d}/f"),
        # A directory that is not snapshottable: exit 1, as HDFS.
        (1, "-createSnapshot", d),
        (1, "-renameSnapshot", d, "a", "b"),
        (1, "-deleteSnapshot", d, "a"),
    ])
    assert ran[6].out.decode().splitlines()[-1].endswith("... done")
    assert ran[15].out == b"2020-01-01 00:00:00 2021-01-01 00:00:00\n"
    assert ran[18].out.decode().splitlines()[1:] == ['user.k="v"']
    for r in ran[-3:]:
        assert "is not a snapshottable directory" in r.err, r.err
    f, g, h, deeper = (stat(cluster, f"{unique_dir}/{path}") for path in ("f", "sub/g", "sub/deeper/h", "sub/deeper"))
    assert (f["permission"], f["owner"], f["group"], f["replication"], f["length"]) == ("540", "bob", "wheel", 2, 3)
    assert (g["owner"], g["group"], g["permission"], g["replication"]) == ("carol", "devs", "700", 1)
    assert (h["owner"], h["replication"], deeper["permission"]) == ("carol", 1, "1777")
    assert stat(cluster, f"{unique_dir}/z")["length"] == 0 and stat(cluster, f"{unique_dir}/none") is None


# What each FileSystem call of tests/fixtures/hadoop/FileSystemCalls.java answers: HDFS's answer and exception class
# (the messages are dfs's), except where a comment says why not.
FILE_SYSTEM_CALLS = {
    "mkdirs": "true",
    "create": "100000",
    "create existing": "!FileAlreadyExistsException: {dir}/a/f already exists",
    "createNonRecursive": "!FileNotFoundException: Parent directory does not exist: {dir}/none",
    "getFileStatus": "true 100000 3 rw-r--r--",
    "getFileStatus dir": "true rwxr-x---",
    "getFileStatus missing": "!FileNotFoundException: File does not exist: {dir}/none",
    "exists missing": "false",
    "open seek read": "true true true",  # seek, positional read, and a read to the end after a seek back
    "append": "100010",
    "listStatus": "a",
    "listStatusIterator": "a",
    "listFiles recursive": "f(2)",  # two blocks: the file's extents after the append
    "listLocatedStatus": "f(2)",
    "getFileBlockLocations": "3",
    "getContentSummary": "2 1 100010 Replicated",
    "setQuota": "100 1073741824",
    "getQuotaUsage": "3",
    # dfs has one storage type (every block on DISK): a quota by any other type is refused.
    "setQuotaByStorageType": "!RemoteException: Cannot set a quota by storage type SSD: every dfs block is on DISK,"
                             " the only storage type with a quota here",
    "getFileChecksum": "MD5-of-196MD5-of-512CRC32C",
    "getHomeDirectory": f"/user/{HADOOP_USER}",
    "getServerDefaults": "512 CRC32C",
    "getStatus": "true",
    "getStoragePolicy": "HOT",
    "getAllStoragePolicies": "1",  # HDFS lists its 8 policies; dfs has HOT only
    "setStoragePolicy HOT": "true",
    "setStoragePolicy COLD": "!RemoteException: Cannot set storage policy COLD: every dfs block is on DISK, so HOT is"
                             " the only storage policy",
    "unsetStoragePolicy": "true",
    "getTrashRoot": f"/user/{HADOOP_USER}/.Trash",
    "getTrashRoots": "true",
    "setXAttr": "true",
    "getXAttr": "1",
    "getXAttrs": "[user.b, user.a]",  # a HashMap's order, the client's
    "listXAttrs": "[user.a, user.b]",
    "removeXAttr": "[user.b]",
    "access": "true",
    "access missing": "!FileNotFoundException: Path not found",  # FSNamesystem.checkAccess's text
    "setPermission": "rw-r-----",
    "setOwner": "bob:staff",
    "setTimes": "1000000000000 1100000000000",
    "setReplication": "true 2",
    "rename": "true",
    "rename missing source": "false",
    "rename onto a file": "false",
    "rename without parent": "false",
    "rename into a directory": "true true",
    "rename OVERWRITE": "0",
    "rename OVERWRITE missing": "!FileNotFoundException: File does not exist: {dir}/a/f",
    "truncate": "true 5",
    "concat": "2005 false",
    "createSymlink": "true",  # and read back with GETFILELINKSTATUS
    "getLinkTarget": f"/user/{HADOOP_USER}/g",  # the client qualifies the stored "g" with its working directory
    "delete file": "true",
    "delete missing": "false",
    "delete non-empty": "!PathIsNotEmptyDirectoryException: ``{dir} is non empty': Directory is not empty':"
                        " Directory is not empty: `{dir} is non empty': Directory is not empty",
    "getAclStatus": "0",  # no entries beyond the mode's
    "modifyAclEntries": "true",
    # Not in dfs (docs/webhdfs.md lists each op's state): delegation tokens (dfs mints bearer tokens offline) and
    # erasure coding (every dfs block is replicated).
    "allowSnapshot": "true",
    "createSnapshot": "{dir}/.snapshot/s0",
    "getSnapshottableDirectoryList": "true",
    "getSnapshotDiffReport": "[M\t., +\t./new]",
    # The client unwraps only some classes; SnapshotException stays a RemoteException, as against HDFS.
    "delete with a snapshot": "!RemoteException: The directory {dir} cannot be deleted since {dir} is snapshottable"
                              " and already has snapshots",
    "deleteSnapshot": "true",
    "getDelegationToken": '!RemoteException: Invalid value for webhdfs parameter "op": No enum constant for'
                          ' GETDELEGATIONTOKEN',
    "getErasureCodingPolicy": '!RemoteException: Invalid value for webhdfs parameter "op": No enum constant for'
                              ' GETECPOLICY',
    "delete recursive": "true false",
}


def test_file_system_calls(cluster, drivers, unique_dir):
    """WebHdfsFileSystem's calls (what Spark, Hive and distcp use) against dfs, each answer as expected."""
    done = java(drivers, "FileSystemCalls", "webhdfs://" + cluster.url.split("://", 1)[1], unique_dir)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
    answers = dict(line.split("\t", 1) for line in done.stdout.decode().splitlines())
    assert answers == {name: answer.format(dir=unique_dir) for name, answer in FILE_SYSTEM_CALLS.items()}


def test_snapshots_through_hadoops_client(cluster, unique_dir, tmp_path):
    """-createSnapshot, -renameSnapshot, -deleteSnapshot and reads under .snapshot through FsShell (Hadoop's
    snapshotDiff and lsSnapshottableDir are not in its client jars)."""
    cluster.put(f"{unique_dir}/f", b"before")
    assert requests.put(f"{cluster.url}/webhdfs/v1{unique_dir}", params={"op": "ALLOWSNAPSHOT"}).status_code == 200
    created = fs_shell(cluster, tmp_path, "-createSnapshot", f"webhdfs:{unique_dir}", "s1").decode()
    assert f"{unique_dir}/.snapshot/s1" in created
    requests.delete(f"{cluster.url}/webhdfs/v1{unique_dir}/f", params={"op": "DELETE"})
    assert fs_shell(cluster, tmp_path, "-cat", f"webhdfs:{unique_dir}/.snapshot/s1/f") == b"before"
    assert f"{unique_dir}/.snapshot/s1/f" in fs_shell(cluster, tmp_path, "-ls", f"webhdfs:{unique_dir}/.snapshot/s1").decode()
    fs_shell(cluster, tmp_path, "-renameSnapshot", f"webhdfs:{unique_dir}", "s1", "s2")
    fs_shell(cluster, tmp_path, "-deleteSnapshot", f"webhdfs:{unique_dir}", "s2")
    assert requests.get(f"{cluster.url}/webhdfs/v1{unique_dir}", params={"op": "GETSNAPSHOTLIST"}).json() == {
        "SnapshotList": []}
