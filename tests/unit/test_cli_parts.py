"""The CLI's pure parts: sizes, path resolution, error wording, the progress line, completion, the parser."""

import io

import pytest
import pytest_twisted
from hypothesis import given
from hypothesis import strategies as st

from dfs.cli.errors import Failure, Usage, reason
from dfs.cli.formatting import human_size, long_row, table
from dfs.cli.parser import build_parser, parse
from dfs.cli.progress import Progress
from dfs.cli.session import Session
from dfs.cli.shell import Completer
from dfs.cli.transfer import parse_size
from dfs.errors import AlreadyExists, DirectoryNotEmpty, FileNotFound, IOFailure, NotADirectory, Unavailable

UNITS = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50, "E": 1 << 60}


@given(st.integers(min_value=0, max_value=1 << 62))
def test_human_size_is_close_to_the_number(n):
    text = human_size(n)
    if n < 1024:
        assert text == str(n)
    else:
        value, unit = float(text[:-1]), UNITS[text[-1]]
        assert abs(value * unit - n) <= 0.05 * n + unit
        assert len(text) <= 5


@given(st.integers(min_value=0, max_value=1 << 40), st.sampled_from(["", "k", "K", "m", "M", "g", "G"]))
def test_parse_size(number, suffix):
    assert parse_size(f"{number}{suffix}") == number * {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[
        suffix.lower()]


@pytest.mark.parametrize("text", ["", "M", "-1", "1.5M", "ten"])
def test_parse_size_refuses(text):
    with pytest.raises(Exception, match="not a size"):
        parse_size(text)


@given(st.lists(st.sampled_from(["a", "b", "..", ".", "", "c d"]), max_size=8), st.booleans())
def test_paths_resolve_against_the_working_directory(parts, absolute):
    session = Session(cwd="/home/me")
    text = ("/" if absolute else "") + "/".join(parts)
    path = session.path(text)
    assert path.startswith("/") and ".." not in path.split("/") and "//" not in path
    if not text.startswith("/") and ".." not in parts:
        assert path.startswith("/home/me")


def test_path_examples():
    session = Session(cwd="/a/b")
    assert session.path("c") == "/a/b/c"
    assert session.path("../c/") == "/a/c"
    assert session.path("/x/./y") == "/x/y"
    assert session.path("../../../..") == "/"
    assert session.path("") == "/a/b"


def test_reasons_read_like_coreutils():
    assert reason(FileNotFound("File does not exist: /x"), "/x") == "No such file or directory"
    assert reason(AlreadyExists("/x already exists"), "/x") == "File exists"
    assert reason(DirectoryNotEmpty("`/x is non empty': Directory is not empty")) == "Directory not empty"
    assert reason(NotADirectory("Parent path is not a directory: /f")) == "Not a directory"
    assert reason(IOFailure("Not a directory: /f"), "/f") == "Not a directory"
    assert reason(Unavailable("cannot reach the namenode")) == "cannot reach the namenode"
    assert reason(FileNotFoundError(2, "No such file or directory")) == "No such file or directory"


class _Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_line_shows_percent_rate_and_eta():
    clock = _Clock()
    bar = Progress(_Terminal(), total=100 * 1024 * 1024, files=1, clock=clock)
    on_bytes = bar.start("file.bin")
    clock.now += 2
    on_bytes(50 * 1024 * 1024)
    line = bar.line(100)
    assert " 50% 50M/100M 25M/s ETA 0:02" in line and line.startswith("file.bin")
    assert len(line) < 100
    assert len(bar.line(40)) < 40


def test_progress_counts_files_and_finishes_on_its_own_line():
    clock, stream = _Clock(), _Terminal()
    bar = Progress(stream, total=10, files=2, clock=clock)
    bar.start("a")(5)
    bar.end(5)
    bar.start("b")(5)
    bar.end(5)
    clock.now += 1
    bar.finish()
    final = stream.getvalue().rsplit("\r", 1)[1]
    assert "100%" in final and "2/2 files" in final and "in 0:01" in final and final.endswith("\n")


def test_progress_is_silent_off_a_terminal_and_for_small_single_files():
    for stream, total, files in [(io.StringIO(), 1 << 30, 5), (_Terminal(), 1000, 1)]:
        bar = Progress(stream, total=total, files=files)
        bar.start("x")(total)
        bar.end(total)
        bar.finish()
        assert stream.getvalue() == ""


class _Listing:
    def __init__(self, tree):
        self.tree = tree
        self.calls = 0

    def ls(self, path):
        self.calls += 1
        return [{"pathSuffix": name, "type": kind} for name, kind in self.tree.get(path, [])]


def test_completion_of_commands_and_remote_paths():
    session = Session(cwd="/data")
    session._client = _Listing({"/data": [("logs", "DIRECTORY"), ("load.csv", "FILE")],
                                "/data/logs": [("today", "FILE")], "/": [("data", "DIRECTORY")]})
    completer = Completer(session, ["cat", "cd", "checksum", "ls"])
    assert completer.candidates("", "c") == ["cat ", "cd ", "checksum "]
    assert completer.candidates("ls ", "lo") == ["load.csv", "logs/"]
    assert completer.candidates("cat ", "logs/t") == ["logs/today"]
    assert completer.candidates("ls ", "/d") == ["/data/"]
    assert completer.candidates("ls ", "-") == []
    calls = session._client.calls
    completer.candidates("ls ", "lo")
    assert session._client.calls == calls  # listed once, then cached


def test_usage_errors_name_the_command():
    parser = build_parser()
    with pytest.raises(Usage) as caught:
        parse(parser, ["ls", "--bogus"])
    assert caught.value.command == "ls" and caught.value.status == 2
    with pytest.raises(Usage) as caught:
        parse(parser, ["frob"])
    assert caught.value.command == "frob"
    args = parse(parser, ["ls", "-lh", "--namenode", "http://x:1", "/"])
    assert (args.long, args.human, args.namenode, args.paths) == (True, True, "http://x:1", ["/"])
    args = parse(parser, ["--namenode", "http://y:2", "ls"])
    assert args.namenode == "http://y:2"


def test_the_shell_has_cd_but_not_shell_or_mount():
    names = build_parser(in_shell=True).commands.summaries
    assert {"cd", "pwd", "exit", "help", "ls", "put"} <= set(names)
    assert "shell" not in names and "mount" not in names
    assert "cd" not in build_parser().commands.summaries


def test_table_aligns_columns():
    assert table([["a", "10", "x"], ["bbb", "2", "y"]], right={1}) == "a    10  x\nbbb   2  y"
    row = long_row({"type": "FILE", "permission": "640", "replication": 2, "owner": "o", "group": "g",
                    "length": 2048, "modificationTime": 0}, "f", human=True)
    assert row == ["-rw-r-----", "2", "o", "g", "2.0K", "-", "f"]


def test_failure_carries_its_status():
    assert Failure("/x", "boom").status == 1 and Usage("bad").status == 2


@pytest_twisted.ensureDeferred
async def test_fsck_prints_each_piece_no_path_reaches(namenode_app):
    """`dfs fsck /` on the namenode's own report of a damaged namespace: one line per piece, CORRUPT, exit 1."""
    from dfs.cli.admin import fsck

    store = namenode_app.store
    await store.mkdirs("/a/b")
    await store.mkdirs("/gone/c")
    ids = {p: (await store.status(p)).inode.id for p in ("/a", "/a/b", "/gone")}
    await store.run(lambda db: db.execute("UPDATE dirents SET parent = ? WHERE inode = ?", (ids["/a/b"], ids["/a"])))
    await store.run(lambda db: db.execute("UPDATE dirents SET parent = 999 WHERE inode = ?", (ids["/gone"],)))
    report = await namenode_app.repair.fsck("/")

    class Client:
        def fsck(self, path):
            return report

    session = Session(stdout=io.StringIO())
    session._client = Client()
    status = fsck(session, parse(build_parser(), ["fsck", "/"]))
    lines = session.stdout.getvalue().splitlines()
    cycle = " -> ".join(f"#{i}" for i in next(p["cycle"] for p in report["namespace"] if p["problem"] == "cycle"))
    assert status == 1
    assert f"inode #{ids['/gone']} (gone): ORPHANED, its parent #999 is gone (2 inodes, 0 files unreachable)" in lines
    assert any(line.endswith(f"CYCLE, its parents loop: {cycle} (2 inodes, 0 files unreachable)") for line in lines)
    assert len(lines) == 4
    assert lines[-2].endswith("unreachable inodes: 4") and lines[-1] == "The filesystem under path '/' is CORRUPT"
