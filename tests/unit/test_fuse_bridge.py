"""The FUSE bridge's pure parts: errno mapping, mount arguments, the attribute cache, block arithmetic."""

import argparse
import errno
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dfs import errors
from dfs.fuse import files
from dfs.fuse.caches import WALKED, AttributeCache
from dfs.fuse.files import OpenFile, ns_to_ms
from dfs.fuse.mount import FUSE_DEFAULTS, MountError, add_mount_arguments, namenode_url, parse_options, plan
from dfs.fuse.operations import DFSOperations, errno_for


@pytest.mark.parametrize("error, code", [
    (errors.FileNotFound, errno.ENOENT),
    (errors.AlreadyExists, errno.EEXIST),
    (errors.NotADirectory, errno.ENOTDIR),
    (errors.IsADirectory, errno.EISDIR),
    (errors.DirectoryNotEmpty, errno.ENOTEMPTY),
    (errors.AccessDenied, errno.EACCES),
    (errors.Unauthorized, errno.EACCES),
    (errors.NoSpace, errno.ENOSPC),
    (errors.NSQuotaExceeded, errno.EDQUOT),
    (errors.DSQuotaExceeded, errno.EDQUOT),
    (errors.SnapshotAccessControlException, errno.EROFS),
    (errors.Unavailable, errno.EIO),
    (errors.Corrupt, errno.EIO),
    (errors.IOFailure, errno.EIO),
    (errors.DFSError, errno.EIO),
])
def test_errno_for(error, code):
    assert errno_for(error("x")) == code


@pytest.mark.parametrize("error", [
    errors.FileNotFound, errors.AlreadyExists, errors.NotADirectory, errors.IsADirectory, errors.DirectoryNotEmpty,
    errors.AccessDenied, errors.Unauthorized, errors.NoSpace, errors.NSQuotaExceeded, errors.DSQuotaExceeded,
    errors.SnapshotAccessControlException,
])
def test_errno_survives_the_wire(error):
    """What the client rebuilds from a RemoteException body maps like the server's own class."""
    rebuilt = errors.from_remote(error.status, error("m").to_json())
    assert errno_for(rebuilt) == errno_for(error("m"))


@pytest.mark.parametrize("op, message, code", [
    ("chmod", "Permission denied. user=bob is not the owner of inode=/a", errno.EPERM),
    ("chown", "User alice is not a super user (non-super user cannot change owner).", errno.EPERM),
    ("chown", "User alice does not belong to carol", errno.EPERM),
    ("chmod", 'Permission denied: user=bob, access=EXECUTE, inode="/h":alice:alice:drwx------', errno.EACCES),
    ("open", 'Permission denied: user=bob, access=READ, inode="/f":alice:alice:-rw-------', errno.EACCES),
    ("unlink", "Permission denied by sticky bit: user=bob, path=...", errno.EACCES),
])
def test_a_namenode_denial_is_eacces_or_eperm_as_posix_says(op, message, code):
    """As the client rebuilds the namenode's 403 AccessControlException."""
    denial = errors.from_remote(403, errors.AccessControlException(message).to_json())
    assert errno_for(denial, op) == code


def parse(*argv):
    parser = argparse.ArgumentParser()
    add_mount_arguments(parser)
    return parser.parse_args(argv)


def test_mount_arguments():
    args = parse("/mnt", "nn.example", "9000", "-f", "-o", "ro,cache_size=64", "-o", "allow_other")
    assert (args.mountpoint, args.host, args.port, args.foreground) == ("/mnt", "nn.example", 9000, True)
    assert namenode_url(args) == "http://nn.example:9000"
    assert namenode_url(parse("/mnt", "nn.example")) == "http://nn.example:8180"
    assert namenode_url(parse("/mnt", "nn", "--namenode", "https://x:1")) == "https://x:1"
    assert namenode_url(parse("/mnt")) is None
    fuse_options, dfs_options = parse_options(args.options)
    assert fuse_options == dict(FUSE_DEFAULTS, ro=True, allow_other=True)
    assert dfs_options == {"cache_size": "64"}
    assert parse_options(None) == (FUSE_DEFAULTS, {})


@pytest.mark.parametrize("options, per_user", [((), False), (("-o", "allow_other"), True),
                                               (("-o", "allow_other,per_user=no"), False), (("-o", "per_user"), True)])
def test_a_mount_acts_for_each_caller_with_allow_other_unless_told(tmp_path, options, per_user):
    """Other users reach the mount only with allow_other: then each acts as themselves, and the kernel checks too."""
    mount = plan(parse(str(tmp_path), *options))
    assert (mount.per_user, mount.fuse_options.get("default_permissions", False)) == (per_user, per_user)


@pytest.mark.parametrize("unsafe", ["suid", "dev", "ro,suid"])
def test_a_mount_is_always_nosuid_and_nodev(tmp_path, unsafe):
    """Files keep their setuid and setgid bits, devices their numbers: no host may honour them."""
    assert {"nosuid", "nodev"} <= set(plan(parse(str(tmp_path))).fuse_options)
    with pytest.raises(MountError, match=f"-o {unsafe.split(',')[-1]} is refused: a dfs mount is always nosuid"):
        plan(parse(str(tmp_path), "-o", unsafe))


def test_per_user_takes_yes_or_no(tmp_path):
    with pytest.raises(MountError, match="per_user takes yes or no, not 'maybe'"):
        plan(parse(str(tmp_path), "-o", "per_user=maybe"))


@pytest.mark.parametrize("options, writeback", [((), False), (("-o", "writeback"), True),
                                                (("-o", "writeback=no"), False)])
def test_writeback_is_a_dfs_option_off_by_default(tmp_path, options, writeback):
    mount = plan(parse(str(tmp_path), *options))
    assert mount.writeback == writeback and "writeback" not in mount.fuse_options
    with pytest.raises(MountError, match="writeback takes yes or no, not 'maybe'"):
        plan(parse(str(tmp_path), "-o", "writeback=maybe"))


def test_mount_arguments_leave_global_options_alone():
    """A --namenode given to a parent parser survives the mount subcommand's own (absent) one."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--namenode")
    add_mount_arguments(parser.add_subparsers(dest="command").add_parser("mount"))
    assert parser.parse_args(["--namenode", "http://a:1", "mount", "/m"]).namenode == "http://a:1"


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def status(name, kind="FILE"):
    return {"pathSuffix": name, "type": kind, "length": 1}


def test_attribute_cache_expires_and_knows_absent_names():
    clock = Clock()
    cache = AttributeCache(1.0, clock)
    cache.store_listing("/d", [status("a"), status("b")], cache.generation())
    assert cache.status("/d/a")["pathSuffix"] == "a"
    assert cache.known_absent("/d/c") and not cache.known_absent("/d/a") and not cache.known_absent("/e/x")
    clock.now = 1.5
    assert cache.status("/d/a") is None and not cache.known_absent("/d/c")


def test_attribute_cache_says_which_expired_listings_are_worth_listing_again(monkeypatch):
    now = [0.0]
    cache = AttributeCache(1.0, clock=lambda: now[0])
    assert not cache.worth_relisting("/d/b"), "never listed: a lookup asks for the one name"
    cache.store_listing("/d", [{"pathSuffix": "a"}], cache.generation())
    now[0] = 5.0
    assert not cache.known_absent("/d/b") and cache.worth_relisting("/d/b")
    assert not cache.worth_relisting("/d/a"), "a name the directory held is asked for alone"
    monkeypatch.setattr("dfs.fuse.caches.RELIST_MAX", 0)
    assert not cache.worth_relisting("/d/b"), "a big directory is not listed for one lookup"


def test_attribute_cache_lists_a_walked_directory_again_once_it_expires():
    """rm -rf, ls -l, find: the kernel looks up every name of a listing; once it expires, the next lookup lists
    the directory again instead of asking for each remaining name alone."""
    clock = Clock()
    cache = AttributeCache(1.0, clock)
    for directory, lookups in (("/few", WALKED - 1), ("/walked", WALKED)):
        cache.store_listing(directory, [status(f"f{i}") for i in range(20)], cache.generation())
        for i in range(lookups):
            assert cache.status(f"{directory}/f{i}") is not None
    cache.store_listing("/polled", [status(f"f{i}") for i in range(20)], cache.generation())
    for _ in range(WALKED):
        assert cache.status("/polled/f0") is not None
    clock.now = 1.5
    assert cache.worth_relisting("/walked/f10")
    cache.store_listing("/walked", [status("f10")], cache.generation())
    assert not cache.worth_relisting("/few/f10"), "a few names looked up: the next is asked for alone..."
    assert cache.worth_relisting("/few/f11"), "...and counts: rm reaches a directory listed long ago"
    for _ in range(WALKED):
        assert not cache.worth_relisting("/polled/f1"), "one name asked for again and again counts once"
    clock.now = 3.0
    assert not cache.worth_relisting("/walked/f10"), "a new listing counts its own lookups"


def test_attribute_cache_keeps_the_status_a_change_answered_with():
    cache = AttributeCache(10.0, Clock())
    cache.store_listing("/", [status("d", "DIRECTORY")], cache.generation())
    cache.created("/d/f", status("f"))
    assert cache.status("/d/f") == status("f") and cache.status("/d") is None
    cache.changed("/d/f", dict(status("f"), length=2))
    assert cache.status("/d/f")["length"] == 2
    cache.changed("/d/f", dict(status("f"), nlink=2))
    assert cache.status("/d/f") is None, "a file with two names is asked for each time"
    cache.changed("/d/g")
    assert cache.status("/d/g") is None


def test_attribute_cache_serves_a_listing_while_it_is_trusted_with_local_changes():
    clock = Clock()
    cache = AttributeCache(1.0, clock)
    assert cache.listing("/d") is None
    cache.store_listing("/d", [status("b"), status("a")], cache.generation())
    cache.created("/d/c")
    cache.deleted("/d/a")
    assert cache.listing("/d") == ["b", "c"]
    clock.now = 1.5
    assert cache.listing("/d") is None


class Lister:
    def __init__(self):
        self.listings = 0

    def ls(self, path):
        self.listings += 1
        return [status("a")]


@pytest.mark.parametrize("context, listings", [(None, 1), (lambda: (1000, 1000, 1), 2)])
def test_a_listing_is_read_again_within_the_timeout_only_for_another_caller(tmp_path, context, listings):
    """rm -rf reads each directory twice: the second comes from the cache, unless the mount acts for each caller,
    whose listings then each ask as that caller (the namenode may refuse one what it allowed another)."""
    client = Lister()
    operations = DFSOperations(client, str(tmp_path), context=context)
    assert operations.readdir("/d", 1) == operations.readdir("/d", 2) == [".", "..", "a"]
    assert client.listings == listings


def test_attribute_cache_follows_local_changes():
    cache = AttributeCache(10.0, Clock())
    cache.store_listing("/", [status("d", "DIRECTORY")], cache.generation())
    cache.store_listing("/d", [status("a")], cache.generation())
    cache.created("/d/new")
    assert not cache.known_absent("/d/new") and cache.status("/d") is None
    cache.deleted("/d/a")
    assert cache.known_absent("/d/a") and cache.status("/d/a") is None
    cache.store("/d/x", status("x"), cache.generation())
    cache.deleted("/d", tree=True)
    assert cache.status("/d/x") is None and not cache.known_absent("/d/zzz") and cache.known_absent("/d")


def test_attribute_cache_drops_answers_that_raced_with_a_change():
    cache = AttributeCache(10.0, Clock())
    before = cache.generation()
    cache.changed("/f")
    cache.store("/f", status("f"), before)
    cache.store_listing("/", [status("f")], before)
    assert cache.status("/f") is None and not cache.known_absent("/g")


def locations(lengths, block_offsets, gaps, tail):
    """BlockLocations of blocks of ``lengths``, each after a hole of its ``gaps`` bytes, and a hole of ``tail``."""
    out, offset = [], 0
    for length, block_offset, gap in zip(lengths, block_offsets, gaps):
        offset += gap
        out.append({"blockId": str(len(out)), "offset": offset, "length": length, "blockOffset": block_offset})
        offset += length
    return {"BlockLocation": out, "fileLength": offset + tail}


@given(st.lists(st.integers(1, 50), min_size=0, max_size=8), st.integers(0, 400), st.integers(0, 200),
       st.integers(0, 20), st.data())
def test_pieces_cover_exactly_the_bytes_asked_for(lengths, offset, size, tail, data):
    block_offsets = [data.draw(st.integers(0, 5)) for _ in lengths]
    gaps = [data.draw(st.sampled_from([0, 0, 1, 7])) for _ in lengths]
    of = OpenFile("/f")
    answer = locations(lengths, block_offsets, gaps, tail)
    of_locations = answer["BlockLocation"]
    of.set_locations(answer)
    file_bytes = [byte for i, n in enumerate(lengths)
                  for byte in [None] * gaps[i] + [(i, block_offsets[i] + j) for j in range(n)]] + [None] * tail
    pieces = list(of.pieces(offset, size))
    got = [None if loc is None else (int(loc["blockId"]), start + k) for loc, start, count, _ in pieces
           for k in range(count)]
    assert got == file_bytes[offset:offset + size]
    for loc, _, _, following in pieces:
        if loc is not None:
            index = int(loc["blockId"])
            assert following == (of_locations[index + 1] if index + 1 < len(lengths) else None)


def test_ns_to_ms():
    assert ns_to_ms(None) is None
    assert ns_to_ms(1_700_000_000_123_456_789) == 1_700_000_000_123


def test_a_missing_fusepy_names_the_extra_to_install(monkeypatch):
    from dfs.fuse import mount

    monkeypatch.setattr(mount, "lowlevel", None)
    monkeypatch.setattr(mount, "FUSE_MISSING", ModuleNotFoundError("No module named 'fuse'", name="fuse"))
    with pytest.raises(mount.MountError, match=r"pip install 'dfs\[fuse\]'"):
        mount.check_fuse()


def test_a_local_copy_is_a_reused_file_emptied_and_new_again(tmp_path, monkeypatch):
    """An emptied local copy is kept for the next file written: it comes back empty, with this moment's mtime (a new
    file's, which an upload of a file never written sends); beyond the spares kept, one is removed."""
    monkeypatch.setattr(files, "SPARE_FILES", 1)
    staging = files.StagingFiles(str(tmp_path))
    written = OpenFile("/a", new=True)
    written.stage(None, staging, download=False)
    written.write(b"old bytes", 0, append=False)
    name, before = written.staged, written.local_stat().st_mtime_ns
    written.close()
    reused = OpenFile("/b", new=True)
    reused.stage(None, staging, download=False)
    assert reused.staged == name
    assert reused.local_stat().st_size == 0 and reused.local_stat().st_mtime_ns >= before
    other = OpenFile("/c", new=True)
    other.stage(None, staging, download=False)
    reused.close()
    other.close()  # one spare is kept
    assert sorted(os.listdir(tmp_path)) == [os.path.basename(name)]
    staging.close()
    assert os.listdir(tmp_path) == []


def test_an_upload_sends_the_bytes_between_the_longest_holes(tmp_path):
    """A local copy with 300 holes: the upload names the 256 longest and sends everything else, zeros included."""
    path = tmp_path / "staged"
    with open(path, "wb") as f:
        for i in range(300):
            f.seek(i * 16384 + (i % 3) * 4096)
            f.write(b"x")
        f.truncate(300 * 16384)
    content = path.read_bytes()
    fd = os.open(path, os.O_RDONLY)
    try:
        holes = files._holes(fd, len(content))
        if not holes:
            pytest.skip("the temporary directory's file system keeps no holes")
        assert len(holes) == files.MAX_HOLES and holes == sorted(holes)
        stored = files._StoredBytes(fd, len(content), holes)
        sent = b"".join(iter(lambda: stored.read(5000), b""))
    finally:
        os.close(fd)
    assert len(sent) == stored.length == len(content) - sum(count for _, count in holes)
    rebuilt, position, rest = b"", 0, sent
    for offset, count in holes:
        rebuilt += rest[:offset - position] + bytes(count)
        rest, position = rest[offset - position:], offset + count
    assert rebuilt + rest == content


@pytest.mark.parametrize("op, args", [
    ("mkdir", ("/d/.snapshot/s1/new", 0o755)),
    ("unlink", ("/d/.snapshot/s1/f",)),
    ("rename", ("/d/f", "/d/.snapshot/s1/f")),
    ("create", ("/d/.snapshot/s1/new", 0o644, None)),
    ("truncate", ("/d/.snapshot/s1/f", 0)),
    ("chmod", ("/d/.snapshot/s1/f", 0o600)),
    ("open", ("/d/.snapshot/s1/f", argparse.Namespace(flags=os.O_WRONLY))),
])
def test_a_snapshot_is_read_only_through_the_mount(tmp_path, op, args):
    """Changes under .snapshot fail with EROFS before any work (the client, None here, is never asked)."""
    operations = DFSOperations(None, str(tmp_path))
    with pytest.raises(OSError) as raised:
        operations(op, *args)
    assert raised.value.errno == errno.EROFS


def test_node_ids_are_file_ids_and_name_every_link():
    """The low-level bridge's table: one node per file whatever its names, paths through the parents' current
    names, the root's number swapped with the kernel's root id, a node gone when the kernel forgets it."""
    try:
        from dfs.fuse import lowlevel
    except (OSError, ModuleNotFoundError):  # fusepy raises OSError when it cannot find libfuse
        pytest.skip("fusepy or libfuse 2 is missing")
    nodes = lowlevel.Nodes(root_ino=16385)
    assert nodes.node_id(16385) == lowlevel.ROOT and nodes.node_id(lowlevel.ROOT) == 16385
    d = nodes.learn(lowlevel.ROOT, "d", 20)
    a = nodes.learn(d, "a", 30)
    assert nodes.learn(lowlevel.ROOT, "b", 30) == a
    assert nodes.paths(a) == ["/b", "/d/a"]  # most recently looked up first
    nodes.renamed(lowlevel.ROOT, "d", lowlevel.ROOT, "e")
    assert nodes.paths(a) == ["/b", "/e/a"]
    nodes.removed(lowlevel.ROOT, "b")
    assert nodes.paths(a) == ["/e/a"]
    nodes.opened(a, 7)
    assert nodes.open_alone(d, "a") == a and nodes.handle(a) == 7
    nodes.hide(a, d, "a", ".fuse_hidden1")
    assert nodes.paths(a) == ["/e/.fuse_hidden1"]
    assert nodes.closed(a, 7) == (d, ".fuse_hidden1")
    nodes.forget(a, 2)
    assert nodes.paths(a) == []
