"""The `dfs` command line against a real cluster: every subcommand run as a subprocess, as a user or script would."""

import getpass
import hashlib
import json
import os
import pty
import re
import select
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests
from files import random_file

DFS = [sys.executable, "-m", "dfs.cli"]
OCTETS = {"Content-Type": "application/octet-stream"}


@pytest.fixture
def env(cluster, tmp_path):
    """The environment of every command: the cluster by DFS_NAMENODE_URL, no user config, history under tmp."""
    return dict(os.environ, DFS_NAMENODE_URL=cluster.url, DFS_CONFIG=str(tmp_path / "no-config.toml"),
                XDG_DATA_HOME=str(tmp_path / "data"), DFS_TOKEN="")


@pytest.fixture
def unique_dir(unique_dir, cluster):
    """A fresh directory, made: like `hdfs dfs`, put, touch and tee do not create missing parents."""
    mkdirs(cluster, unique_dir)
    return unique_dir


def dfs(env, *args, stdin=None, cwd=None, timeout=120):
    """Run `dfs ARGS...`; ``stdin`` is bytes (or None for an empty stdin that is not a terminal)."""
    return subprocess.run([*DFS, *args], input=stdin if stdin is not None else b"", capture_output=True, env=env,
                          cwd=cwd, timeout=timeout)


def ok(env, *args, **kwargs):
    result = dfs(env, *args, **kwargs)
    assert result.returncode == 0, (args, result.stderr.decode())
    assert result.stderr == b"", result.stderr.decode()
    return result.stdout


def fails(env, *args, code=1, **kwargs):
    """Run a command that must fail; its one stderr line (asserting there is exactly one, with no traceback)."""
    result = dfs(env, *args, **kwargs)
    err = result.stderr.decode()
    assert result.returncode == code, (args, result.returncode, err)
    assert "Traceback" not in err and err.count("\n") == 1, err
    return err.rstrip("\n")


def seed(cluster, path, data=b""):
    """Create a file directly over WebHDFS: setting up a test needs no dfs process."""
    r = requests.put(f"{cluster.url}/webhdfs/v1{path}", params={"op": "CREATE", "data": "true", "overwrite": "true"},
                     data=data, headers=OCTETS)
    assert r.status_code == 201, r.text


def mkdirs(cluster, path):
    assert requests.put(f"{cluster.url}/webhdfs/v1{path}", params={"op": "MKDIRS"}).status_code == 200


def read(cluster, path):
    r = requests.get(f"{cluster.url}/webhdfs/v1{path}", params={"op": "OPEN"})
    assert r.status_code == 200, r.text
    return r.content


def kind(cluster, path):
    """'FILE', 'DIRECTORY' or None."""
    r = requests.get(f"{cluster.url}/webhdfs/v1{path}", params={"op": "GETFILESTATUS"})
    return r.json()["FileStatus"]["type"] if r.status_code == 200 else None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def exec_in_child(argv, env):
    """In a forked child: become ``argv``, never return into the test runner."""
    try:
        os.execve(argv[0], argv, env)
    finally:
        os._exit(127)


def read_pty(fd, until=None, timeout=60):
    """Read a pty's output until EOF, ``until`` (bytes or a compiled pattern) appears, or ``timeout``."""
    output, deadline = b"", time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if not ready:
            continue
        try:
            data = os.read(fd, 65536)
        except OSError:  # EIO: the other side closed
            break
        if not data:
            break
        output += data
        if until is not None and (until in output if isinstance(until, bytes) else until.search(output)):
            break
    return output


# -- names and metadata ---------------------------------------------------------------------------------------------

def test_mkdir_touch_ls_stat_rmdir(env, cluster, unique_dir):
    d = unique_dir
    ok(env, "mkdir", "-p", f"{d}/a/b")
    ok(env, "touch", f"{d}/a/empty", f"{d}/top")
    assert ok(env, "ls", d).decode().split() == ["a", "top"]
    assert ok(env, "ls", "-R", d).decode().split() == [f"{d}/a", f"{d}/top", f"{d}/a/b", f"{d}/a/empty"]
    assert ok(env, "ls", "-d", f"{d}/a").decode().strip() == f"{d}/a"
    long_lines = ok(env, "ls", "-l", d).decode().splitlines()
    assert long_lines[0].startswith("drwxr-xr-x") and long_lines[0].endswith(" a")
    assert long_lines[1].startswith("-rw-r--r--") and long_lines[1].split()[4] == "0"
    listing = json.loads(ok(env, "ls", "--json", d))
    assert {e["path"]: e["type"] for e in listing} == {f"{d}/a": "DIRECTORY", f"{d}/top": "FILE"}

    status = json.loads(ok(env, "stat", "--json", f"{d}/top"))
    assert status["type"] == "FILE" and status["length"] == 0 and status["path"] == f"{d}/top"
    text = ok(env, "stat", f"{d}/a").decode()
    assert "Type:        directory" in text and f"Path:        {d}/a" in text

    ok(env, "rmdir", f"{d}/a/b")
    assert kind(cluster, f"{d}/a/b") is None


def test_ls_sizes_human_readable(env, cluster, unique_dir):
    seed(cluster, f"{unique_dir}/f", b"x" * 3 * 1024 * 1024)
    assert ok(env, "ls", "-l", f"{unique_dir}/f").decode().split()[4] == str(3 * 1024 * 1024)
    assert ok(env, "ls", "-l", "-h", f"{unique_dir}/f").decode().split()[4] == "3.0M"


def test_mv_and_rm(env, cluster, unique_dir):
    d = unique_dir
    seed(cluster, f"{d}/one", b"one")
    seed(cluster, f"{d}/dir/other", b"other")
    ok(env, "mv", f"{d}/one", f"{d}/two")
    assert kind(cluster, f"{d}/one") is None and read(cluster, f"{d}/two") == b"one"
    ok(env, "mv", f"{d}/two", f"{d}/dir")  # into an existing directory
    assert read(cluster, f"{d}/dir/two") == b"one"

    assert fails(env, "rm", f"{d}/dir") == f"dfs: rm: {d}/dir: Is a directory (use -r)"
    ok(env, "rm", f"{d}/dir/two")
    assert fails(env, "rm", f"{d}/dir/two") == f"dfs: rm: {d}/dir/two: No such file or directory"
    ok(env, "rm", "-f", f"{d}/dir/two")
    ok(env, "rm", "-r", f"{d}/dir")
    assert kind(cluster, f"{d}/dir") is None


def test_cp_copies_on_the_server(env, cluster, unique_dir):
    d = unique_dir
    seed(cluster, f"{d}/dir/file", b"one")
    seed(cluster, f"{d}/other", b"other")
    ok(env, "cp", f"{d}/dir/file", f"{d}/copy")
    assert read(cluster, f"{d}/copy") == b"one"
    assert fails(env, "cp", f"{d}/other", f"{d}/copy") == f"dfs: cp: {d}/copy: File exists"
    ok(env, "cp", "-f", f"{d}/other", f"{d}/copy")
    assert read(cluster, f"{d}/copy") == b"other"
    assert fails(env, "cp", f"{d}/dir", f"{d}/dir2") == f"dfs: cp: {d}/dir: Is a directory (use -r)"
    ok(env, "cp", "-r", f"{d}/dir", f"{d}/dir2")
    assert read(cluster, f"{d}/dir2/file") == b"one"


def test_ln_makes_symlinks_and_hard_links(env, cluster, unique_dir):
    d = unique_dir
    seed(cluster, f"{d}/file", b"data")
    ok(env, "ln", "-s", "../elsewhere/file", f"{d}/link")
    status = json.loads(ok(env, "stat", "--json", f"{d}/link"))
    assert (status["type"], status["symlink"]) == ("SYMLINK", "../elsewhere/file")
    ok(env, "ln", f"{d}/file", f"{d}/hard")
    assert read(cluster, f"{d}/hard") == b"data"
    assert json.loads(ok(env, "stat", "--json", f"{d}/file"))["nlink"] == 2
    assert fails(env, "ln", "-s", "x", f"{d}/link") == f"dfs: ln: {d}/link: File exists"


def test_du_checksum_setrep_test(env, cluster, unique_dir):
    d = unique_dir
    data = os.urandom(100_000)
    seed(cluster, f"{d}/sub/f", data)
    seed(cluster, f"{d}/g", b"12345")
    summary = json.loads(ok(env, "du", "-s", "--json", d))
    assert summary[0]["length"] == len(data) + 5 and summary[0]["fileCount"] == 2
    rows = [line.split() for line in ok(env, "du", d).decode().splitlines()]
    assert rows == [["5", "15", f"{d}/g"], [str(len(data)), str(3 * len(data)), f"{d}/sub"]]

    line = ok(env, "checksum", f"{d}/sub/f").decode()
    assert line == f"{hashlib.sha256(data).hexdigest()}  {d}/sub/f\n"

    assert ok(env, "setrep", "2", d).decode().splitlines() == [f"Replication 2 set: {d}/g",
                                                               f"Replication 2 set: {d}/sub/f"]
    assert json.loads(ok(env, "stat", "--json", f"{d}/sub/f"))["replication"] == 2

    assert dfs(env, "test", "-d", d).returncode == 0
    assert dfs(env, "test", "-f", d).returncode == 1
    assert dfs(env, "test", "-s", f"{d}/g").returncode == 0
    assert dfs(env, "test", "-e", f"{d}/nothing").returncode == 1


def test_setrep_wait_finishes_when_another_file_shares_the_block(env, cluster, unique_dir):
    """A block shared (same bytes) with a file kept at 3 stays at 3 replicas; the file set to 2 is read from 2."""
    d = unique_dir
    data = os.urandom(50_000)
    seed(cluster, f"{d}/two", data)
    seed(cluster, f"{d}/three", data)

    def hosts(path):
        r = requests.get(f"{cluster.url}/webhdfs/v1{path}", params={"op": "GETFILEBLOCKLOCATIONS"}, timeout=10)
        return [len(b["hosts"]) for b in r.json()["BlockLocations"]["BlockLocation"]]

    assert hosts(f"{d}/two") == hosts(f"{d}/three") == [3]
    out = ok(env, "setrep", "-w", "2", f"{d}/two", timeout=60).decode()
    assert out == f"Replication 2 set: {d}/two\nWaiting for {d}/two ... done\n"
    assert (hosts(f"{d}/two"), hosts(f"{d}/three")) == ([2], [3]), "what hdfs dfs -setrep -w 2 waits for"
    assert [len(f["blocks"][0]["replicas"]) for f in cluster.fsck(d)["files"]] == [3, 3], "the block keeps 3"


def test_df_status_fsck(env, cluster, unique_dir):
    df = json.loads(ok(env, "df", "--json"))
    assert df["filesystem"] == cluster.url and df["capacity"] > 0 and df["free"] > 0
    assert ok(env, "df", "-h").decode().splitlines()[0].split() == ["Filesystem", "Size", "Used", "Available",
                                                                     "Use%"]
    report = json.loads(ok(env, "status", "--json"))
    assert report["totals"]["alive"] == 3
    text = ok(env, "status").decode()
    for node in report["nodes"]:
        row = next(line for line in text.splitlines() if line.startswith(node["id"]))
        assert "alive" in row and row.endswith(node["public_url"]) and "s ago" in row
    assert "Datanodes: 3 alive, 0 stale, 0 dead" in text
    # What the status page shows: versions, uptime, metadata size, block-report freshness.
    assert re.search(rf"Namenode: dfs {re.escape(report['version'])}, up [\d.]+[smhd], metadata [\d.]+[KMG]?", text)
    for node in report["nodes"]:
        row = next(line for line in text.splitlines() if line.startswith(node["id"])).split()
        assert node["version"] in row and re.fullmatch(r"[\d.]+[smhd] ago", " ".join(row[-3:-1])), row

    seed(cluster, f"{unique_dir}/f", b"checked")
    out = ok(env, "fsck", unique_dir).decode()
    assert f"The filesystem under path '{unique_dir}' is HEALTHY" in out
    assert json.loads(ok(env, "fsck", "--json", unique_dir))["totals"]["files"] == 1
    assert fails(env, "fsck", f"{unique_dir}/missing") == f"dfs: fsck: {unique_dir}/missing: No such file or directory"


# -- moving bytes ---------------------------------------------------------------------------------------------------

def test_put_stdin_and_get_stdout(env, unique_dir):
    data = os.urandom(3 * 1024 * 1024 + 17)
    ok(env, "put", "-", f"{unique_dir}/blob", stdin=data)
    assert ok(env, "get", f"{unique_dir}/blob", "-") == data
    assert ok(env, "cat", f"{unique_dir}/blob") == data


def test_put_and_get_files(env, cluster, unique_dir, tmp_path):
    local = tmp_path / "local.bin"
    digest = random_file(local, 200_000)
    ok(env, "put", str(local), f"{unique_dir}/x")
    assert fails(env, "put", str(local), f"{unique_dir}/x") == f"dfs: put: {unique_dir}/x: File exists"
    (tmp_path / "newer").write_bytes(b"newer")
    ok(env, "put", "-f", str(tmp_path / "newer"), f"{unique_dir}/x")
    assert read(cluster, f"{unique_dir}/x") == b"newer"

    mkdirs(cluster, f"{unique_dir}/into")
    ok(env, "put", str(local), str(tmp_path / "newer"), f"{unique_dir}/into")  # several sources into a directory
    assert ok(env, "ls", f"{unique_dir}/into").decode().split() == ["local.bin", "newer"]

    out = tmp_path / "out"
    out.mkdir()
    ok(env, "get", f"{unique_dir}/into/local.bin", str(out))
    assert hashlib.sha256((out / "local.bin").read_bytes()).hexdigest() == digest
    assert fails(env, "get", f"{unique_dir}/into/local.bin", str(out)).startswith(
        f"dfs: get: {out / 'local.bin'}: File exists")
    ok(env, "get", "-f", f"{unique_dir}/x", str(out / "local.bin"))
    assert (out / "local.bin").read_bytes() == b"newer"
    assert [p.name for p in out.iterdir()] == ["local.bin"]  # no temporary file left behind


def test_recursive_put_and_get_compare_equal(env, cluster, unique_dir, tmp_path):
    tree = tmp_path / "tree"
    (tree / "a" / "b").mkdir(parents=True)
    (tree / "empty").mkdir()
    (tree / "top.txt").write_text("top\n")
    (tree / "a" / "zero").write_bytes(b"")
    random_file(tree / "a" / "big.bin", 2 * 1024 * 1024 + 3)
    (tree / "a" / "b" / "deep name with spaces").write_text("deep\n")
    ok(env, "put", "-r", str(tree), f"{unique_dir}/copy")
    assert fails(env, "put", str(tree), f"{unique_dir}/other") == f"dfs: put: {tree}: Is a directory (use -r)"

    back = tmp_path / "back"
    ok(env, "get", "-r", f"{unique_dir}/copy", str(back))
    assert subprocess.run(["diff", "-r", str(tree), str(back)]).returncode == 0

    # Into an existing directory, the tree keeps its name (like cp -r).
    ok(env, "put", "-r", str(tree), f"{unique_dir}/copy")
    assert kind(cluster, f"{unique_dir}/copy/tree/a/b") == "DIRECTORY"


def test_tee_writes_file_and_stdout(env, cluster, unique_dir):
    assert ok(env, "tee", f"{unique_dir}/log", stdin=b"one\n") == b"one\n"
    assert ok(env, "tee", "-a", f"{unique_dir}/log", stdin=b"two\n") == b"two\n"
    assert read(cluster, f"{unique_dir}/log") == b"one\ntwo\n"
    ok(env, "tee", f"{unique_dir}/log", stdin=b"fresh\n")
    assert read(cluster, f"{unique_dir}/log") == b"fresh\n"


def test_tail_shows_the_last_kib_and_follows(env, cluster, unique_dir):
    data = bytes(range(256)) * 20
    seed(cluster, f"{unique_dir}/t", data)
    assert ok(env, "tail", f"{unique_dir}/t") == data[-1024:]
    follower = subprocess.Popen([*DFS, "tail", "-f", "-s", "0.2", f"{unique_dir}/t"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env)
    try:
        assert follower.stdout.read(1024) == data[-1024:]
        seed(cluster, f"{unique_dir}/t", data + b"appended")
        assert follower.stdout.read(len(b"appended")) == b"appended"
    finally:
        follower.send_signal(signal.SIGINT)
        follower.wait(30)
    assert follower.returncode == 130


def test_cat_into_a_closed_pipe_is_quiet(env, cluster, unique_dir):
    seed(cluster, f"{unique_dir}/big", os.urandom(4 * 1024 * 1024))
    result = subprocess.run(f"{' '.join(DFS)} cat {unique_dir}/big | head -c 10 >/dev/null; echo ${{PIPESTATUS[0]}}",
                            shell=True, executable="/bin/bash", capture_output=True, env=env, timeout=60)
    assert result.stderr == b""
    assert result.stdout.strip() in (b"0", b"141")


def peak_rss_until_exit(process, timeout=300):
    """The child's VmHWM, read until it exits. (ru_maxrss would not do: on Linux it keeps the high-water mark
    of the forked parent across exec, so a big test runner makes every child look big.)"""
    peak, deadline = 0, time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        try:
            with open(f"/proc/{process.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]) * 1024)
        except (FileNotFoundError, ProcessLookupError):
            pass
        time.sleep(0.05)
    process.wait(timeout=10)
    return peak


def test_streaming_keeps_memory_flat(env, unique_dir, tmp_path):
    size = 256 * 1024 * 1024
    local = tmp_path / "large"
    digest = random_file(local, size)
    for args in (["put", str(local), f"{unique_dir}/large"], ["get", f"{unique_dir}/large", str(tmp_path / "back")]):
        process = subprocess.Popen([*DFS, *args], env=env, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
        peak = peak_rss_until_exit(process)
        assert process.returncode == 0, process.stderr.read()
        assert peak < 160 * 1024 * 1024, (args, peak)
    with open(tmp_path / "back", "rb") as f:
        assert hashlib.file_digest(f, "sha256").hexdigest() == digest


# -- failures -------------------------------------------------------------------------------------------------------

def test_each_failure_kind_has_its_exit_code_and_one_line(env, cluster, unique_dir):
    d = unique_dir
    seed(cluster, f"{d}/dir/file", b"x")
    assert fails(env, "ls", f"{d}/nope") == f"dfs: ls: {d}/nope: No such file or directory"
    assert fails(env, "cat", f"{d}/nope") == f"dfs: cat: {d}/nope: No such file or directory"
    assert fails(env, "mkdir", f"{d}/dir") == f"dfs: mkdir: {d}/dir: File exists"
    assert fails(env, "mkdir", f"{d}/x/y") == f"dfs: mkdir: {d}/x/y: No such file or directory"
    assert fails(env, "put", "-", f"{d}/dir/file", stdin=b"y") == f"dfs: put: {d}/dir/file: File exists"
    assert fails(env, "rmdir", f"{d}/dir") == f"dfs: rmdir: {d}/dir: Directory not empty"
    assert fails(env, "mkdir", "-p", f"{d}/dir/file/sub") == f"dfs: mkdir: {d}/dir/file/sub: Not a directory"
    assert fails(env, "rmdir", f"{d}/dir/file") == f"dfs: rmdir: {d}/dir/file: Not a directory"
    assert fails(env, "cat", f"{d}/dir") == f"dfs: cat: {d}/dir: Is a directory"
    assert fails(env, "get", f"{d}/dir", "-") == f"dfs: get: {d}/dir: Is a directory"
    assert fails(env, "get", f"{d}/dir", "/tmp") == f"dfs: get: {d}/dir: Is a directory (use -r)"
    assert fails(env, "checksum", f"{d}/dir") == f"dfs: checksum: {d}/dir: Is a directory"

    # Several paths: each failure reported, the others still done, status 1.
    result = dfs(env, "mkdir", f"{d}/dir", f"{d}/new")
    assert result.returncode == 1 and result.stderr.decode() == f"dfs: mkdir: {d}/dir: File exists\n"
    assert kind(cluster, f"{d}/new") == "DIRECTORY"


def test_put_touch_and_tee_into_a_missing_directory_create_nothing(env, cluster, unique_dir, tmp_path):
    d = unique_dir
    local = tmp_path / "local.txt"
    local.write_bytes(b"data\n")
    assert fails(env, "put", str(local), f"{d}/a/b") == f"dfs: put: {d}/a/b: No such file or directory"
    assert fails(env, "put", "-", f"{d}/a/b", stdin=b"x") == f"dfs: put: {d}/a/b: No such file or directory"
    assert fails(env, "touch", f"{d}/a/b") == f"dfs: touch: {d}/a/b: No such file or directory"
    assert fails(env, "tee", f"{d}/a/b", stdin=b"x") == f"dfs: tee: {d}/a/b: No such file or directory"
    assert fails(env, "put", "-r", str(tmp_path), f"{d}/a/b") == f"dfs: put: {d}/a/b: No such file or directory"
    seed(cluster, f"{d}/file", b"x")
    assert fails(env, "put", str(local), f"{d}/file/b") == f"dfs: put: {d}/file/b: Not a directory"
    assert kind(cluster, f"{d}/a") is None

    # On request, as `mkdir -p` does; -p keeps its `hdfs dfs -put` meaning: preserve times and permission bits.
    os.chmod(local, 0o640)
    os.utime(local, (1_000_000_000, 1_100_000_000))
    ok(env, "put", "--parents", "-p", str(local), f"{d}/a/b")
    status = requests.get(f"{cluster.url}/webhdfs/v1{d}/a/b", params={"op": "GETFILESTATUS"}).json()["FileStatus"]
    assert (status["permission"], status["modificationTime"]) == ("640", 1_100_000_000_000)
    assert read(cluster, f"{d}/a/b") == b"data\n"
    ok(env, "put", "-r", "--parents", str(tmp_path), f"{d}/x/y")
    assert read(cluster, f"{d}/x/y/local.txt") == b"data\n"


def test_webhdfs_create_still_creates_parents(cluster, unique_dir):
    seed(cluster, f"{unique_dir}/p/q/r", b"x")
    assert kind(cluster, f"{unique_dir}/p/q") == "DIRECTORY"


@pytest.mark.parametrize("form", ["{host}:{port}", "http://{host}:{port}", "http://{host}:{port}/",
                                  "webhdfs://{host}:{port}", "HTTP://{host}:{port}/webhdfs/v1"])
def test_namenode_address_forms(env, cluster, form):
    host, port = cluster.url.split("://")[1].split(":")
    assert b"t" in ok(env, "--namenode", form.format(host=host, port=port), "ls", "/").split()


def test_a_bad_namenode_address_is_one_line(env):
    assert fails(env, "--namenode", "ftp://nn:8180", "ls", "/", code=2) == (
        "dfs: ls: argument --namenode: not a namenode address: 'ftp://nn:8180' (give host:port or http[s]://host:port)")
    assert fails(env, "--namenode", "nn:port", "ls", "/", code=2).startswith("dfs: ls: argument --namenode: not a")
    assert fails(env, "ls", "--namenode", "http://", "/", code=2).startswith("dfs: ls: argument --namenode: not a")
    err = fails(dict(env, DFS_NAMENODE_URL="http://nn:99999"), "ls", "/")
    assert err == "dfs: ls: /: not a namenode address: 'http://nn:99999' (give host:port or http[s]://host:port)"


def test_version(env):
    result = dfs(env, "--version")
    assert result.returncode == 0 and re.fullmatch(rb"dfs \d+\.\d+\S*\n", result.stdout), result


def test_unreachable_cluster(env):
    url = f"http://127.0.0.1:{free_port()}"
    err = fails(env, "--namenode", url, "ls", "/")
    assert err.startswith(f"dfs: ls: /: cannot reach the namenode at {url}")
    assert fails(env, "status", "--namenode", url).startswith("dfs: status: cannot reach")
    assert fails(env, "put", "-", "/x", "--namenode", url, stdin=b"data").startswith("dfs: put: ")


def test_usage_errors_exit_2(env):
    assert fails(env, "ls", "--bogus", code=2) == "dfs: ls: unrecognized arguments: --bogus"
    assert fails(env, "frobnicate", code=2) == "dfs: frobnicate: unknown command (`dfs --help` lists them)"
    assert fails(env, code=2) == "dfs: no command given (`dfs --help` lists them)"
    assert fails(env, "mv", "/only-one", code=2) == "dfs: mv: /only-one: missing destination operand"
    assert fails(env, "put", "-", code=2) == "dfs: put: name the target path: put - DEST"
    assert fails(env, "setrep", "two", "/x", code=2).startswith("dfs: setrep: argument N: invalid int value")


def test_namenode_comes_from_option_then_environment_then_config(env, cluster, tmp_path):
    dead = f"http://127.0.0.1:{free_port()}"
    config = tmp_path / "config.toml"
    config.write_text(f'namenode = "{cluster.url}"\n')
    from_file = dict(env, DFS_CONFIG=str(config))
    del from_file["DFS_NAMENODE_URL"]
    assert dfs(from_file, "ls", "/").returncode == 0
    assert dfs(dict(from_file, DFS_NAMENODE_URL=dead), "ls", "/").returncode == 1
    assert dfs(dict(from_file, DFS_NAMENODE_URL=dead), "--namenode", cluster.url, "ls", "/").returncode == 0


# -- the shell ------------------------------------------------------------------------------------------------------

def test_shell_reads_commands_from_stdin(env, cluster, unique_dir, tmp_path):
    (tmp_path / "local.txt").write_text("from disk\n")
    script = f"""
        mkdir -p {unique_dir}/work
        cd {unique_dir}
        pwd
        # a comment, then a blank line

        cd work
        put local.txt copy.txt
        cat copy.txt
        cd ..
        ls work
        cat "work/copy.txt"
        ls nowhere
        cd -
        pwd
    """
    result = dfs(env, "shell", stdin=script.encode(), cwd=tmp_path)
    assert result.stdout.decode().splitlines() == [
        unique_dir, "from disk", "copy.txt", "from disk", f"{unique_dir}/work",
    ]
    assert result.stderr.decode() == "dfs: ls: nowhere: No such file or directory\n"
    assert result.returncode == 0  # the status of the last command, as in sh
    assert read(cluster, f"{unique_dir}/work/copy.txt") == b"from disk\n"


def test_shell_exit_status_and_errexit(env):
    assert dfs(env, "shell", stdin=b"ls /\nexit 3\nls /\n").returncode == 3
    failing = dfs(env, "shell", "-e", stdin=b"ls /missing-for-errexit\npwd\n")
    assert failing.returncode == 1 and failing.stdout == b""
    quoted = dfs(env, "shell", stdin=b'ls "unclosed\n')
    assert quoted.returncode == 2 and quoted.stderr.decode() == "dfs: shell: No closing quotation\n"


def test_interactive_shell_prompt_and_completion(env, cluster, unique_dir):
    mkdirs(cluster, f"{unique_dir}/completion-target")
    pid, fd = pty.fork()
    if pid == 0:  # the child: dfs shell on a terminal
        exec_in_child([*DFS, "shell"], env)
    try:
        assert read_pty(fd, until=b"dfs:/> ").endswith(b"dfs:/> ")
        os.write(fd, f"cd {unique_dir}/completion-t\t".encode())
        time.sleep(1)
        os.write(fd, b"\n")
        assert read_pty(fd, until=b"> ").endswith(f"dfs:{unique_dir}/completion-target> ".encode())
        os.write(fd, b"pwd\n")
        assert f"{unique_dir}/completion-target\r\n".encode() in read_pty(fd, until=b"target> ")
        os.write(fd, b"exit\n")
        read_pty(fd, timeout=10)
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0
    with open(os.path.join(env["XDG_DATA_HOME"], "dfs", "history")) as f:
        assert "pwd" in f.read()


# -- terminals: progress, confirmation, interruption ---------------------------------------------------------------

def run_with_stderr_on_pty(env, args, stdin=subprocess.DEVNULL, until=None, on_output=None):
    """Run dfs with stderr on a pseudo-terminal; returns (exit status, what the terminal showed)."""
    master, slave = pty.openpty()
    process = subprocess.Popen([*DFS, *args], stdin=stdin, stdout=subprocess.PIPE, stderr=slave, env=env)
    os.close(slave)
    try:
        shown = read_pty(master, until=until)
        if on_output is not None:
            on_output(process, shown)
            shown += read_pty(master)
        process.communicate(timeout=120)
    finally:
        os.close(master)
    return process.returncode, shown.decode("utf-8", "replace")


def test_progress_bar_on_a_terminal_only(env, unique_dir, tmp_path):
    local = tmp_path / "four-mib"
    random_file(local, 4 * 1024 * 1024)
    status, shown = run_with_stderr_on_pty(env, ["put", str(local), f"{unique_dir}/f"])
    assert status == 0
    assert "100%" in shown and "/s" in shown and "4.0M/4.0M" in shown, shown
    status, shown = run_with_stderr_on_pty(env, ["get", f"{unique_dir}/f", str(tmp_path / "back")])
    assert status == 0 and "100%" in shown and "/s" in shown, shown

    # stderr not a terminal: nothing at all.
    ok(env, "put", "-f", str(local), f"{unique_dir}/f")
    ok(env, "get", f"{unique_dir}/f", str(tmp_path / "again"))


def test_interrupted_put_keeps_the_previous_version(env, cluster, unique_dir, tmp_path):
    seed(cluster, f"{unique_dir}/target", b"previous version")
    local = tmp_path / "large"
    random_file(local, 192 * 1024 * 1024)

    def interrupt_midway(process, shown):
        process.send_signal(signal.SIGINT)

    # Interrupt once the bar shows bytes moving but well before the end.
    status, shown = run_with_stderr_on_pty(env, ["put", "-f", str(local), f"{unique_dir}/target"],
                                           until=re.compile(rb" [1-9][0-9]?% "), on_output=interrupt_midway)
    assert status == 130, shown
    assert "dfs: put: interrupted" in shown
    assert read(cluster, f"{unique_dir}/target") == b"previous version"
    time.sleep(2)  # nothing finishes the upload later
    assert read(cluster, f"{unique_dir}/target") == b"previous version"


def test_format_asks_on_a_terminal_and_needs_yes_in_scripts(make_cluster, tmp_path):
    private = make_cluster()
    env = dict(os.environ, DFS_NAMENODE_URL=private.url, DFS_CONFIG=str(tmp_path / "none.toml"))
    seed(private, "/keep", b"data")
    assert fails(env, "format", code=2) == "dfs: format: stdin is not a terminal: pass --yes to format without a " \
                                           "question"

    def answer(text):
        pid, fd = pty.fork()
        if pid == 0:
            exec_in_child([*DFS, "format"], env)
        try:
            assert b"[y/N]" in read_pty(fd, until=b"[y/N] ")
            os.write(fd, text)
            shown = read_pty(fd, timeout=60)
        finally:
            _, status = os.waitpid(pid, 0)
            os.close(fd)
        return os.waitstatus_to_exitcode(status), shown

    status, shown = answer(b"n\n")
    assert status == 1 and b"dfs: format: not formatted" in shown
    assert read(private, "/keep") == b"data"
    status, shown = answer(b"y\n")
    assert status == 0, shown
    assert kind(private, "/keep") is None

    seed(private, "/again", b"data")
    assert ok(env, "format", "--yes").startswith(b"Formatted")
    assert kind(private, "/again") is None


def test_mount_is_wired_to_the_fuse_module(env, tmp_path):
    assert b"MOUNTPOINT" in ok(env, "mount", "--help")
    result = dfs(env, "mount", str(tmp_path / "does-not-exist"))
    assert result.returncode == 1 and "Traceback" not in result.stderr.decode()


def test_refused_renames_and_long_names_get_one_line(env, cluster, unique_dir):
    d = unique_dir
    mkdirs(cluster, f"{d}/dir/sub")
    seed(cluster, f"{d}/file", b"x")
    assert fails(env, "mv", f"{d}/dir", f"{d}/dir") == (
        f"dfs: mv: {d}/dir: cannot move {d}/dir to a subdirectory of itself")
    assert fails(env, "mv", f"{d}/dir", f"{d}/dir/sub") == (
        f"dfs: mv: {d}/dir/sub: cannot move {d}/dir to a subdirectory of itself")
    seed(cluster, f"{d}/other", b"y")
    assert fails(env, "mv", f"{d}/other", f"{d}/file") == f"dfs: mv: {d}/file: File exists"
    assert fails(env, "mv", f"{d}/missing", f"{d}/x") == f"dfs: mv: {d}/missing: No such file or directory"
    assert fails(env, "mkdir", f"{d}/" + "n" * 256) == f"dfs: mkdir: {d}/{'n' * 256}: File name too long"
    ok(env, "mkdir", f"{d}/" + "n" * 255)
    assert "sub" in ok(env, "ls", f"{d}/dir").decode()


def test_quota_set_get_and_clear(env, cluster, unique_dir):
    seed(cluster, unique_dir + "/a", b"x" * 100)
    ok(env, "quota", "set", "-n", "3", "-s", "1k", unique_dir)
    row = ok(env, "quota", "get", unique_dir).decode().split()
    assert row[:4] == ["3", "1", "1024", str(1024 - 100 * int(cluster.status()["replication"]))] and \
        row[4:] == ["1", "1", "100", unique_dir]
    seed(cluster, unique_dir + "/b")
    err = fails(env, "put", "-", unique_dir + "/c", stdin=b"")
    assert "The NameSpace quota (directories and files) of directory" in err and "quota=3 file count=4" in err
    ok(env, "quota", "clear", "--only", "names", unique_dir)
    assert ok(env, "quota", "get", unique_dir).decode().split()[:2] == ["none", "inf"]
    ok(env, "quota", "clear", unique_dir)
    assert ok(env, "quota", "get", unique_dir).decode().split()[:4] == ["none", "inf", "none", "inf"]
    assert "quota set needs -n N and/or -s BYTES" in fails(env, "quota", "set", unique_dir, code=2)
    assert fails(env, "quota", "set", "-n", "5", unique_dir + "/a").endswith("/a: Not a directory")


def test_commands_act_as_the_login_user_unless_told_otherwise(env, cluster, unique_dir):
    """Like Hadoop's client, on a cluster without tokens the CLI names its user: the login name, else --user or
    $DFS_USER; the namenode checks permissions as that user (an unnamed request would act as the superuser)."""
    requests.put(f"{cluster.url}/webhdfs/v1{unique_dir}", params={"op": "SETPERMISSION", "permission": "777"})
    ok(env, "mkdir", f"{unique_dir}/mine")
    ok(env, "--user", "bob", "mkdir", f"{unique_dir}/bobs")
    ok(dict(env, DFS_USER="carol"), "mkdir", f"{unique_dir}/carols")
    owners = {status["pathSuffix"]: status["owner"] for status in requests.get(
        f"{cluster.url}/webhdfs/v1{unique_dir}", params={"op": "LISTSTATUS"}).json()["FileStatuses"]["FileStatus"]}
    assert owners == {"mine": getpass.getuser(), "bobs": "bob", "carols": "carol"}
    assert "Permission denied: user=bob, access=WRITE" in fails(env, "--user", "bob", "mkdir", f"{unique_dir}/carols/x")
