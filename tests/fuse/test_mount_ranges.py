"""Reads through the mount move what they need: random 4 KiB reads only the 64 KiB chunks they touch, a sequential
reader whole segments ahead of it; a file open for reading asks the namenode where its blocks are once, and again
only when they are gone."""

import hashlib
import os
import random

import pytest

from cluster import Cluster
from test_mount import Mount, _fuse_missing

from dfs.fuse.operations import READ_AHEAD_FIRST, SEQUENTIAL_SLACK

pytestmark = pytest.mark.skipif(_fuse_missing() is not None, reason=_fuse_missing() or "")

CHUNK = 64 * 1024
READ = 4096
SIZE = 40 << 20


@pytest.fixture(scope="module")
def mounted(tmp_path_factory):
    """A one-datanode cluster (no repair traffic to count) holding two files of SIZE random bytes, and a mount."""
    root = tmp_path_factory.mktemp("ranges")
    cluster = Cluster(root / "cluster", datanodes=1,
                      namenode_args=["--replication", "1", "--min-replicas", "1"]).start()
    os.makedirs(root / "cache")
    mount = Mount(cluster.url, root / "mnt", root / "mount.log", "-o", f"cache_dir={root / 'cache'}")
    try:
        mount.start()
        mount.cluster, mount.data = cluster, {name: os.urandom(SIZE) for name in ("big.bin", "seq.bin")}
        for name, data in mount.data.items():
            with open(f"{mount.path}/{name}", "wb") as f:
                f.write(data)
        yield mount
        assert mount.stop() == 0, mount.log()
        assert "Traceback" not in mount.log(), mount.log()
    finally:
        mount.stop()
        cluster.stop()


def test_random_4_kib_reads_move_only_the_chunks_they_touch(mounted):
    rng = random.Random(24)
    offsets = [rng.randrange(SIZE - READ) for _ in range(60)]
    before = mounted.cluster.datanode_total("dfs_read_bytes_total")
    fd = os.open(mounted.path + "/big.bin", os.O_RDONLY)
    try:
        # As fio and databases do: the kernel then asks the mount for just the pages read, no read-ahead of its own.
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
        for offset in offsets:
            assert os.pread(fd, READ, offset) == mounted.data["big.bin"][offset:offset + READ], offset
    finally:
        os.close(fd)
    moved = mounted.cluster.datanode_total("dfs_read_bytes_total") - before
    touched = {chunk for offset in offsets for chunk in range(offset // CHUNK, (offset + READ - 1) // CHUNK + 1)}
    assert 0 < moved <= (len(touched) + 4 * near_reads(offsets)) * CHUNK, f"{moved / len(offsets):.0f} bytes a read"


def near_reads(offsets):
    """How many of the reads the mount takes for sequential ones (near where the last ended: the kernel asks for
    whole pages): each may read up to 2 * READ_AHEAD_FIRST ahead, four chunks."""
    assert 2 * READ_AHEAD_FIRST <= 4 * CHUNK
    near, last_end = 0, 0
    for offset in offsets:
        start = offset // 4096 * 4096
        near += abs(start - last_end) <= SEQUENTIAL_SLACK
        last_end = -(-(offset + READ) // 4096) * 4096
    return near


def test_a_sequential_reader_reads_ahead_in_big_pieces(mounted):
    requests_before = mounted.cluster.datanode_total("dfs_http_requests_total", op="serve_block")
    before = mounted.cluster.datanode_total("dfs_read_bytes_total")
    with open(mounted.path + "/seq.bin", "rb") as f:
        for offset in range(0, SIZE, 1 << 20):
            assert f.read(1 << 20) == mounted.data["seq.bin"][offset:offset + (1 << 20)], offset
    # Every byte once; a chunk or two may come twice when libfuse's threads take the kernel's requests out of order.
    assert SIZE <= mounted.cluster.datanode_total("dfs_read_bytes_total") - before <= SIZE + 4 * CHUNK
    requests = mounted.cluster.datanode_total("dfs_http_requests_total", op="serve_block") - requests_before
    assert requests <= SIZE // (1 << 20), f"{requests} block reads for {SIZE >> 20} MiB"


def test_a_file_replaced_while_open_is_read_anew_once_its_old_blocks_are_gone(mounted):
    """The open file reads the version it located (close-to-open); when no datanode has that version's blocks any
    more (replaced, then collected), a read locates the file again and gives the new bytes, not an EIO."""
    old, new = os.urandom(8 * CHUNK), os.urandom(8 * CHUNK)
    mounted.cluster.put("/replaced.bin", old)
    located = mounted.cluster.namenode_total("dfs_http_requests_total", op="GETFILEBLOCKLOCATIONS")
    fd = os.open(mounted.path + "/replaced.bin", os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
        # Far apart, so the mount reads nothing ahead: chunk 4 is never fetched of the old version.
        assert os.pread(fd, READ, 7 * CHUNK) == old[7 * CHUNK:7 * CHUNK + READ]
        assert os.pread(fd, READ, 0) == old[:READ]
        assert mounted.cluster.namenode_total("dfs_http_requests_total", op="GETFILEBLOCKLOCATIONS") == located + 1
        mounted.cluster.put("/replaced.bin", new, overwrite="true")
        os.unlink(mounted.cluster.block_files(0)[hashlib.sha256(old).hexdigest()])  # as GC does after its grace
        assert os.pread(fd, READ, 4 * CHUNK) == new[4 * CHUNK:4 * CHUNK + READ]
    finally:
        os.close(fd)
