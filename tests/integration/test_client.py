"""The async Python client against a real cluster: every operation, big multi-block files, memory bounds."""

import hashlib
import io

import pytest
import pytest_twisted
from twisted.internet import reactor

from dfs.client import Client
from dfs.errors import AlreadyExists, DirectoryNotEmpty, FileExists, FileNotFound, NotADirectory
from dfs.http import make_http
from files import random_file, sha256_of


@pytest.fixture
def client(cluster):
    http, pool = make_http(reactor)
    yield Client(http, cluster.url, reactor=reactor)
    pytest_twisted.blockon(pool.closeCachedConnections())


def peak_rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024


@pytest_twisted.ensureDeferred
async def test_an_upload_returns_the_new_files_status(client, unique_dir):
    first = await client.write(unique_dir + "/f", b"one")
    assert first == await client.stat(unique_dir + "/f")
    replaced = await client.write(unique_dir + "/f", b"two", overwrite=True)
    assert replaced == await client.stat(unique_dir + "/f") and replaced["length"] == 3


@pytest_twisted.ensureDeferred
async def test_every_operation(client, unique_dir):
    d = unique_dir
    assert await client.mkdir(d + "/a/b")
    await client.write(d + "/a/f", b"hello")
    assert await client.read(d + "/a/f") == b"hello"
    assert await client.read(d + "/a/f", 1, 3) == b"ell"
    assert (await client.stat(d + "/a/f"))["length"] == 5
    assert sorted(e["pathSuffix"] for e in await client.ls(d + "/a")) == ["b", "f"]
    with pytest.raises(AlreadyExists):
        await client.write(d + "/a/f", b"again", overwrite=False)
    await client.append(d + "/a/f", b" world")
    assert await client.read(d + "/a/f") == b"hello world"
    await client.touch(d + "/a/empty")
    assert await client.read(d + "/a/empty") == b""
    await client.cp(d + "/a/f", d + "/copy")
    await client.mv(d + "/copy", d + "/moved")
    assert await client.read(d + "/moved") == b"hello world"
    assert not await client.exists(d + "/copy")
    with pytest.raises(DirectoryNotEmpty):
        await client.rmdir(d + "/a")
    await client.rmdir(d + "/a/b")
    summary = await client.du(d)
    assert summary["fileCount"] == 3 and summary["length"] == 22
    walked = await client.walk(d)
    assert [w[0] for w in walked] == [d, d + "/a"]
    assert (await client.checksum(d + "/moved"))["bytes"] == hashlib.sha256(b"hello world").hexdigest()
    await client.truncate(d + "/moved", 5)
    assert await client.read(d + "/moved") == b"hello"
    assert await client.set_replication(d + "/moved", 2)
    await client.chmod(d + "/moved", 0o600)
    assert (await client.stat(d + "/moved"))["permission"] == "600"
    assert await client.rm(d, recursive=True)
    with pytest.raises(FileNotFound):
        await client.stat(d)
    status = await client.status()
    assert status["totals"]["alive"] == 3



@pytest_twisted.ensureDeferred
async def test_no_write_replaces_a_file_unless_asked(client, unique_dir, tmp_path):
    path = unique_dir + "/kept"
    await client.write(path, b"first")
    local = tmp_path / "local"
    local.write_bytes(b"second")
    await client.write(unique_dir + "/other", b"other")
    for attempt in (lambda: client.write(path, b"second"), lambda: client.upload(path, str(local)),
                    lambda: client.cp(unique_dir + "/other", path), lambda: client.mv(unique_dir + "/other", path)):
        with pytest.raises(FileExists):
            await attempt()
    assert await client.read(path) == b"first"
    await client.write(path, b"second", overwrite=True)
    assert await client.read(path) == b"second"


@pytest_twisted.ensureDeferred
async def test_errors_are_typed_and_name_the_callers_path(client, unique_dir):
    await client.write(unique_dir + "/file", b"x")
    with pytest.raises(FileNotFound) as missing:
        await client.read(unique_dir + "/nothing")
    with pytest.raises(FileExists) as exists:
        await client.write(unique_dir + "/file", b"y")
    with pytest.raises(NotADirectory) as not_dir:
        await client.rmdir(unique_dir + "/file")
    for error, path in ((missing, "/nothing"), (exists, "/file"), (not_dir, "/file")):
        assert error.value.path == unique_dir + path
        assert unique_dir + path in str(error.value)
    assert FileExists is AlreadyExists  # the name the server side uses


@pytest_twisted.ensureDeferred
async def test_upload_with_times(client, unique_dir, tmp_path):
    local = tmp_path / "f"
    local.write_bytes(b"timed")
    await client.upload(unique_dir + "/f", str(local), mtime=1_500_000_000_123, atime=1_400_000_000_000)
    status = await client.stat(unique_dir + "/f")
    assert (status["modificationTime"], status["accessTime"]) == (1_500_000_000_123, 1_400_000_000_000)
    await client.write(unique_dir + "/f", b"rewritten", mtime=1_000, overwrite=True)
    status = await client.stat(unique_dir + "/f")
    assert status["modificationTime"] == 1_000 and status["accessTime"] > 1_400_000_000_000
    assert await client.read(unique_dir + "/f") == b"rewritten"

@pytest_twisted.ensureDeferred
async def test_200_mib_multi_block_round_trip(client, unique_dir, tmp_path):
    source, target = tmp_path / "src", tmp_path / "dst"
    digest = random_file(source, 200 * 1024 * 1024)
    with open(source, "rb") as f:
        await client.upload(unique_dir + "/big", f, block_size=32 * 1024 * 1024)
    locations = await client.block_locations(unique_dir + "/big")
    assert len(locations["BlockLocation"]) == 7
    assert all(len(b["urls"]) == 3 for b in locations["BlockLocation"])
    await client.download(unique_dir + "/big", str(target))
    assert sha256_of(target) == digest
    # a range across a block boundary, read through the client and verified block by block
    middle = await client.read(unique_dir + "/big", 32 * 1024 * 1024 - 100, 200)
    with open(source, "rb") as f:
        f.seek(32 * 1024 * 1024 - 100)
        assert middle == f.read(200)
    await client.rm(unique_dir, recursive=True)


@pytest_twisted.ensureDeferred
async def test_1_gib_upload_keeps_memory_flat(client, cluster, unique_dir, tmp_path):
    source = tmp_path / "gig"
    random_file(source, 1024 * 1024 * 1024, chunk=8 << 20)
    pids = [cluster.namenode.pid] + [d.pid for d in cluster.datanodes]
    before = {pid: peak_rss(pid) for pid in pids}
    with open(source, "rb") as f:
        await client.upload(unique_dir + "/gig", f)
    growth = {pid: peak_rss(pid) - before[pid] for pid in pids}
    assert max(growth.values()) < 100 * 1024 * 1024, growth
    assert (await client.stat(unique_dir + "/gig"))["length"] == 1024 * 1024 * 1024
    await client.rm(unique_dir, recursive=True)


@pytest_twisted.ensureDeferred
async def test_sparse_files_upload_read_and_download_with_their_holes(client, unique_dir, tmp_path):
    """Issue 20: holes named at upload, read back as zeros, downloaded as holes of a sparse local file."""
    path = unique_dir + "/sparse"
    await client.upload(path, io.BytesIO(b"headtail"), holes=[(4, 1 << 30)], length=8)
    await client.truncate(path, (2 << 30) + 8)  # a second hole, at the end
    content_size = (2 << 30) + 8
    assert (await client.stat(path))["length"] == content_size
    assert await client.read(path, 0, 8) == b"head" + bytes(4)
    assert await client.read(path, (1 << 30) + 2, 10) == bytes(2) + b"tail" + bytes(4)
    target = tmp_path / "copy"
    assert await client.download(path, str(target)) == content_size
    st = target.stat()
    assert st.st_size == content_size and st.st_blocks * 512 < 1 << 20
    with open(target, "rb") as f:
        assert f.read(4) == b"head"
        f.seek((1 << 30) + 4)
        assert f.read(8) == b"tail" + bytes(4)
