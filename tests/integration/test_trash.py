"""Trash with real processes: `dfs rm` moves into /user/<user>/.Trash/Current/<path>, `dfs trash` lists, restores
and expunges, the namenode's emptier checkpoints and expires, GC keeps a trashed file's blocks until then, and
HdfsCLI's own trash (GETTRASHROOT + MKDIRS + RENAME) works."""

import getpass
import json
import os
import time

import hdfs
from test_cli import env, fails, ok, unique_dir  # noqa: F401 (env, unique_dir: fixtures)
from test_webhdfs import op, put_file, read

from dfs import trash

TRASH = f"/user/{getpass.getuser()}/.Trash"  # the CLI names the login user


def exists(cluster, path, **params):
    return op(cluster, "GET", path, "GETFILESTATUS", **params).status_code == 200


def rm_to_trash(env, path):
    """`dfs rm PATH`; the path it got in trash, from the line rm prints."""
    return ok(env, "rm", path).decode().rsplit(": ", 1)[1].strip()


def listed(env):
    return json.loads(ok(env, "trash", "list", "--json"))


def test_rm_moves_into_current_under_the_original_path_and_restore_brings_it_back(env, cluster, unique_dir):
    put_file(cluster, unique_dir + "/d/f", b"precious")
    out = ok(env, "rm", unique_dir + "/d/f").decode()
    where = f"{TRASH}/Current{unique_dir}/d/f"
    assert out == f"Moved: '{unique_dir}/d/f' to trash at: {where}\n"
    assert not exists(cluster, unique_dir + "/d/f") and read(cluster, where) == b"precious"
    modes = {p: op(cluster, "GET", p, "GETFILESTATUS").json()["FileStatus"]["permission"]
             for p in ("/user", TRASH.rsplit("/", 1)[0], TRASH)}
    assert modes == {"/user": "755", TRASH.rsplit("/", 1)[0]: "755", TRASH: "700"}  # only the trash is private
    item = next(i for i in listed(env) if i["path"] == where)
    assert item == {"path": where, "original": unique_dir + "/d/f", "checkpoint": "Current", "deleted_before": None,
                    "type": "FILE", "length": 8}
    assert ok(env, "trash", "restore", unique_dir + "/d/f").decode() == (
        f"Restored {unique_dir}/d/f to {unique_dir}/d/f\n")
    assert read(cluster, unique_dir + "/d/f") == b"precious" and not exists(cluster, where)
    # The directories that held only the restored file in trash went with it.
    assert not exists(cluster, f"{TRASH}/Current{unique_dir}") and exists(cluster, f"{TRASH}/Current")


def test_rm_r_moves_a_tree_and_restore_recreates_missing_parents(env, cluster, unique_dir):
    for name in ("a", "b", "sub/c"):
        put_file(cluster, f"{unique_dir}/tree/{name}", name.encode())
    ok(env, "rm", "-r", unique_dir)
    assert not exists(cluster, unique_dir)
    originals = {i["original"] for i in listed(env)}
    assert {f"{unique_dir}/tree/a", f"{unique_dir}/tree/b", f"{unique_dir}/tree/sub/c"} <= originals
    ok(env, "trash", "restore", unique_dir + "/tree")
    assert read(cluster, unique_dir + "/tree/sub/c") == b"sub/c"


def test_a_name_taken_in_current_gets_the_time_appended_and_restore_refuses_to_overwrite(env, cluster, unique_dir):
    put_file(cluster, unique_dir + "/f", b"one")
    ok(env, "rm", unique_dir + "/f")
    put_file(cluster, unique_dir + "/f", b"two")
    second = rm_to_trash(env, unique_dir + "/f")
    first = f"{TRASH}/Current{unique_dir}/f"
    assert second.startswith(first) and len(second) == len(first) + trash.SUFFIX_DIGITS
    assert read(cluster, first) == b"one" and read(cluster, second) == b"two"
    assert {i["original"] for i in listed(env) if i["path"] in (first, second)} == {unique_dir + "/f"}
    put_file(cluster, unique_dir + "/f", b"three")
    assert fails(env, "trash", "restore", unique_dir + "/f") == (
        f"dfs: trash: {unique_dir}/f: File exists (restore it elsewhere with --to DEST)")
    assert read(cluster, unique_dir + "/f") == b"three"
    ok(env, "trash", "restore", unique_dir + "/f", "--to", unique_dir + "/g")  # the newest copy
    assert read(cluster, unique_dir + "/g") == b"two"
    ok(env, "trash", "restore", first, "--to", unique_dir + "/h")
    assert read(cluster, unique_dir + "/h") == b"one"
    assert fails(env, "trash", "restore", unique_dir + "/never") == (
        f"dfs: trash: {unique_dir}/never: not in the trash (dfs trash list shows what is there)")


def test_a_file_in_the_way_in_current_gives_the_directory_the_time_appended(env, cluster, unique_dir):
    put_file(cluster, unique_dir + "/x", b"file")
    ok(env, "rm", unique_dir + "/x")
    put_file(cluster, unique_dir + "/x/y", b"in a directory now")
    moved = rm_to_trash(env, unique_dir + "/x/y")
    blocked = f"{TRASH}/Current{unique_dir}/x"
    assert moved.startswith(blocked) and moved.endswith("/y")
    assert len(moved) == len(blocked) + trash.SUFFIX_DIGITS + len("/y")
    assert read(cluster, blocked) == b"file" and read(cluster, moved) == b"in a directory now"


def test_skip_trash_and_removing_from_the_trash_delete_at_once(env, cluster, unique_dir):
    put_file(cluster, unique_dir + "/f", b"x")
    assert ok(env, "rm", "--skip-trash", unique_dir + "/f") == b""
    assert not exists(cluster, unique_dir + "/f") and not exists(cluster, f"{TRASH}/Current{unique_dir}/f")
    put_file(cluster, unique_dir + "/g", b"y")
    ok(env, "rm", unique_dir + "/g")
    assert ok(env, "rm", f"{TRASH}/Current{unique_dir}/g") == b""
    assert not exists(cluster, f"{TRASH}/Current{unique_dir}/g")
    assert fails(env, "rm", "-r", "/user") == (
        "dfs: rm: /user: cannot move /user to the trash, as it contains the trash (use --skip-trash)")


def test_expunge_makes_a_checkpoint_and_immediate_empties(env, cluster, unique_dir):
    put_file(cluster, unique_dir + "/f", b"x")
    ok(env, "rm", unique_dir + "/f")
    ok(env, "trash", "expunge")
    item = next(i for i in listed(env) if i["original"] == unique_dir + "/f")
    assert item["checkpoint"] != "Current" and trash.checkpoint_time(item["checkpoint"]) is not None
    assert abs(item["deleted_before"] / 1000 - time.time()) < 120
    assert "before " in ok(env, "trash", "list").decode()
    ok(env, "trash", "expunge", "--immediate")
    assert listed(env) == []


def test_server_defaults_and_trash_roots(cluster, unique_dir):
    assert op(cluster, "GET", "/", "GETSERVERDEFAULTS").json()["FsServerDefaults"]["trashInterval"] == 1440
    # As an administrator would: erin may write in the test's directory and owns her home (permissions are on).
    for path, name, params in [(unique_dir, "SETPERMISSION", {"permission": "777"}), ("/user/erin", "MKDIRS", {}),
                               ("/user/erin", "SETOWNER", {"owner": "erin"})]:
        assert op(cluster, "PUT", path, name, **params).status_code == 200
    client = hdfs.InsecureClient(cluster.url, user="erin")
    client.write(unique_dir + "/f", b"hdfscli")
    assert client.delete(unique_dir + "/f", skip_trash=False)
    assert not exists(cluster, unique_dir + "/f")
    # HdfsCLI moves the file under Current/<microseconds>/<name> of the trash root it is told.
    [stamp] = client.list("/user/erin/.Trash/Current")
    with client.read(f"/user/erin/.Trash/Current/{stamp}/f") as reader:
        assert reader.read() == b"hdfscli"
    mine = op(cluster, "GET", "/", "GETTRASHROOTS", **{"user.name": "erin"}).json()["Paths"]
    assert [p["path"] for p in mine] == ["/user/erin/.Trash"] and mine[0]["isdir"] is True
    assert mine[0]["owner"] == "erin" and mine[0]["permission"] == "755"  # as HdfsCLI made it
    every = [p["path"] for p in op(cluster, "GET", "/", "GETTRASHROOTS", allusers="true").json()["Paths"]]
    assert "/user/erin/.Trash" in every
    assert op(cluster, "GET", "/", "GETTRASHROOTS", **{"user.name": "nobody"}).json() == {"Paths": []}


def test_a_trash_interval_of_zero_deletes_at_once(make_cluster, tmp_path):
    cluster = make_cluster(datanodes=1, namenode_args=["--replication", "1", "--min-replicas", "1",
                                                       "--trash-interval", "0"])
    env = dict(os.environ, DFS_NAMENODE_URL=cluster.url, DFS_CONFIG=str(tmp_path / "none.toml"), DFS_TOKEN="")
    assert op(cluster, "GET", "/", "GETSERVERDEFAULTS").json()["FsServerDefaults"]["trashInterval"] == 0
    put_file(cluster, "/f", b"x")
    assert ok(env, "rm", "/f") == b""
    assert not exists(cluster, "/f") and not exists(cluster, TRASH)


def test_gc_keeps_a_trashed_files_blocks_until_its_checkpoint_expires(make_cluster, tmp_path):
    # Trash interval 6 s, checkpoints every 3 s, GC grace 1 s: a checkpoint lives at least 6 s, GC would take an
    # unreferenced block within about 2 s.
    cluster = make_cluster(datanodes=1, namenode_args=[
        "--replication", "1", "--min-replicas", "1", "--gc-grace", "1",
        "--trash-interval", "0.1", "--trash-checkpoint-interval", "0.05"])
    env = dict(os.environ, DFS_NAMENODE_URL=cluster.url, DFS_CONFIG=str(tmp_path / "none.toml"), DFS_TOKEN="")
    put_file(cluster, "/data/f", os.urandom(5000))
    locations = op(cluster, "GET", "/data/f", "GETFILEBLOCKLOCATIONS").json()["BlockLocations"]["BlockLocation"]
    [block] = [loc["blockId"] for loc in locations]
    assert block in cluster.block_files(0)
    ok(env, "rm", "-r", "/data")

    def trash_entries():
        return [e["pathSuffix"] for e in op(cluster, "GET", TRASH, "LISTSTATUS").json()["FileStatuses"]["FileStatus"]]

    deadline = time.monotonic() + 90
    while trash_entries() == [trash.CURRENT]:
        assert time.monotonic() < deadline, "no checkpoint made"
        time.sleep(0.1)
    [checkpoint] = trash_entries()
    assert trash.checkpoint_time(checkpoint) is not None
    assert len(read(cluster, f"{TRASH}/{checkpoint}/data/f")) == 5000
    assert block in cluster.block_files(0)  # referenced from the checkpoint, GC leaves it
    while block in cluster.block_files(0):
        assert time.monotonic() < deadline, "the trashed block was never collected"
        time.sleep(0.2)
    assert trash_entries() == [] and listed(env) == []
