"""Chunk checksums: written with every block of more than one chunk however it is stored, checked on every read,
rebuilt when missing; a block of at most one chunk has none and is checked against its id instead."""

import hashlib
import io
import os

import pytest
from files import flip_byte
from hypothesis import given
from hypothesis import strategies as st

from dfs import chunks
from dfs.datanode import blockstore
from dfs.datanode.app import byte_range
from dfs.datanode.blockstore import BlockStore, checked_by_id
from dfs.errors import BadRequest, Corrupt, FileNotFound, RangeNotSatisfiable

C = chunks.CHUNK_SIZE




def stored_block(tmp_path, data):
    store = BlockStore(str(tmp_path / "dn"))
    sink = store.new_sink()
    for i in range(0, len(data), 10_000):  # pieces that straddle chunk boundaries
        sink.write(data[i:i + 10_000])
    block_id, _ = store.commit_sync(sink)
    return store, block_id


@given(st.binary(max_size=3 * C + 7), st.lists(st.integers(1, C + 3), max_size=8))
def test_streamed_checksums_equal_whole_ones(data, cuts):
    summer, position = chunks.Summer(), 0
    for cut in cuts:
        summer.update(data[position:position + cut])
        position += cut
    summer.update(data[position:])
    assert summer.result() == chunks.sums_of(data)
    assert chunks.decode(chunks.encode(summer.result())) == summer.result()


def test_every_way_of_storing_writes_the_checksums(tmp_path):
    data = os.urandom(3 * C + 5)
    store, streamed = stored_block(tmp_path, data)
    other = os.urandom(C + 1)
    [(batched, _)] = store.commit_many_sync(io.BytesIO(other), [len(other)])
    copied_data = os.urandom(2 * C)
    copied = hashlib.sha256(copied_data).hexdigest()
    tmp = os.path.join(store.volumes[0].incoming, "copy")
    with open(tmp, "wb") as f:
        f.write(copied_data)
    store.store_verified_sync(copied, tmp)
    for block_id, content in ((streamed, data), (batched, other), (copied, copied_data)):
        with open(store.sums_path(block_id), "rb") as f:
            assert chunks.decode(f.read()) == chunks.sums_of(content)
    assert store.scan_sync() == {streamed, batched, copied}, "checksum files are not blocks"


def test_a_flipped_byte_with_its_mtime_kept_is_never_read(tmp_path):
    data = os.urandom(4 * C)
    store, block_id = stored_block(tmp_path, data)
    assert store.read_verified_sync(block_id, 10, 100) == data[10:110]
    flip_byte(store.path(block_id), 2 * C + 17)
    assert store.read_verified_sync(block_id, C - 5, 10) == data[C - 5:C + 5], "other chunks still read"
    with pytest.raises(Corrupt):
        store.read_verified_sync(block_id, 2 * C + 100, 1)
    assert not store.has(block_id) and os.path.exists(os.path.join(store.volumes[0].quarantine, block_id))
    assert not os.path.exists(store.sums_path(block_id))


def test_a_truncated_block_is_quarantined_and_a_range_past_a_good_one_refused(tmp_path):
    data = os.urandom(3 * C)
    store, block_id = stored_block(tmp_path, data)
    with pytest.raises(BadRequest):
        store.read_verified_sync(block_id, 3 * C - 10, 20)
    assert store.has(block_id)
    with open(store.path(block_id), "r+b") as f:
        f.truncate(1000)
    with pytest.raises(Corrupt):
        store.read_verified_sync(block_id, 2 * C, 10)
    assert not store.has(block_id)


def test_an_older_block_gets_its_checksums_on_first_read(tmp_path):
    data = os.urandom(2 * C + 3)
    store, block_id = stored_block(tmp_path, data)
    os.unlink(store.sums_path(block_id))
    assert store.read_verified_sync(block_id, C, C + 3) == data[C:]
    with open(store.sums_path(block_id), "rb") as f:
        assert chunks.decode(f.read()) == chunks.sums_of(data)


def test_an_older_block_that_rotted_is_quarantined_on_first_read(tmp_path):
    store, block_id = stored_block(tmp_path, os.urandom(2 * C))
    os.unlink(store.sums_path(block_id))
    flip_byte(store.path(block_id), 5)
    with pytest.raises(Corrupt):
        store.read_verified_sync(block_id, C, 10)
    assert not store.has(block_id)


def test_rotten_checksums_of_good_data_are_rebuilt_not_quarantined(tmp_path):
    data = os.urandom(2 * C)
    store, block_id = stored_block(tmp_path, data)
    flip_byte(store.sums_path(block_id), chunks.HEADER_SIZE + 1)
    assert store.read_verified_sync(block_id, 0, 2 * C) == data
    assert store.has(block_id)
    assert store.chunk_sums_sync(block_id) == chunks.encode(chunks.sums_of(data))


def test_kept_checksums_still_check_every_read_and_follow_their_file(tmp_path):
    """The decoded checksums a read keeps in memory (so the next small read need not open and decode the file
    again) check every later read, and are read again once the file is rebuilt or the block leaves."""
    data = os.urandom(3 * C)
    store, block_id = stored_block(tmp_path, data)
    assert store.read_verified_sync(block_id, 10, 100) == data[10:110]
    os.unlink(store.sums_path(block_id))  # the kept checksums serve the next reads
    assert store.read_checked_sync(block_id, C + 1, 10) == data[C + 1:C + 11]
    flip_byte(store.path(block_id), 2 * C + 17)
    assert store.read_checked_sync(block_id, 2 * C, 10) is None, "a rotten chunk is caught by the kept checksums"
    with pytest.raises(Corrupt):
        store.read_verified_sync(block_id, 2 * C, 10)
    assert not store.has(block_id)
    store, block_id = stored_block(tmp_path / "again", data)
    assert store.read_checked_sync(block_id, 0, 10) == data[:10]
    flip_byte(store.sums_path(block_id), chunks.HEADER_SIZE + 4 * 2 + 1)  # rotten checksums, kept ones still good
    assert store.read_checked_sync(block_id, 2 * C, 10) == data[2 * C:2 * C + 10]
    assert store.verify_sync(block_id)  # rebuilds the file from the data and drops what was kept
    flip_byte(store.sums_path(block_id), chunks.HEADER_SIZE + 4 * 1 + 1)
    assert store.read_checked_sync(block_id, C, 10) is None, "the file was read again after its rebuild"


def test_a_read_during_the_whole_block_check_leaves_no_rotten_checksums_kept(tmp_path, monkeypatch):
    data = os.urandom(3 * C)
    store, block_id = stored_block(tmp_path, data)
    flip_byte(store.sums_path(block_id), chunks.HEADER_SIZE + 4 * 1 + 1)
    hash_file = blockstore._hash_file

    def a_read_meanwhile(f):  # another reader, on the reactor, while the block is hashed in a disk thread
        assert store.read_checked_sync(block_id, C, 10) is None
        return hash_file(f)

    monkeypatch.setattr(blockstore, "_hash_file", a_read_meanwhile)
    assert store.read_verified_sync(block_id, C, 10) == data[C:C + 10]


@given(st.integers(1, 1000), st.integers(0, 1100), st.integers(0, 1100))
def test_byte_ranges(size, first, last):
    assert byte_range(None, size) is None
    assert byte_range(b"bytes=0-1,5-6", size) is None
    assert byte_range(b"items=0-1", size) is None
    if first < size and last >= first:
        assert byte_range(f"bytes={first}-{last}".encode(), size) == (first, min(size - 1, last) - first + 1)
        assert byte_range(f"bytes={first}-".encode(), size) == (first, size - first)
    elif first >= size:
        with pytest.raises(RangeNotSatisfiable):
            byte_range(f"bytes={first}-".encode(), size)
    if last:
        assert byte_range(f"bytes=-{last}".encode(), size) == (max(0, size - last), min(size, last))


def test_the_cheap_check_never_hashes_the_whole_block(tmp_path):
    # read_checked_sync runs on the datanode's reactor for small reads: a block without checksums must not be
    # hashed whole there (64 MiB of SHA-256 would stall the node); it answers None and leaves that to a disk thread.
    data = os.urandom(3 * C)
    store, block_id = stored_block(tmp_path, data)
    os.unlink(store.sums_path(block_id))
    assert store.read_checked_sync(block_id, 10, 100) is None
    assert not os.path.exists(store.sums_path(block_id))
    assert store.read_verified_sync(block_id, 10, 100) == data[10:110]
    assert os.path.exists(store.sums_path(block_id))


def test_a_block_deleted_under_a_read_is_missing_not_corrupt(tmp_path):
    store, block_id = stored_block(tmp_path, os.urandom(C + 1))
    os.unlink(store.sums_path(block_id))
    os.unlink(store.path(block_id))
    with pytest.raises(FileNotFound):
        store.read_verified_sync(block_id, 0, 100)


def small_blocks_stored_every_way(tmp_path):
    """A store holding blocks of one chunk and less, streamed, batched and copied from a peer: {id: bytes}."""
    streamed_data, batched_data, copied_data = os.urandom(C), os.urandom(1), os.urandom(1024)
    store, streamed = stored_block(tmp_path, streamed_data)
    [(batched, _)] = store.commit_many_sync(io.BytesIO(batched_data), [len(batched_data)])
    copied = hashlib.sha256(copied_data).hexdigest()
    tmp = os.path.join(store.volumes[0].incoming, "copy")
    with open(tmp, "wb") as f:
        f.write(copied_data)
    store.store_verified_sync(copied, tmp)
    return store, {streamed: streamed_data, batched: batched_data, copied: copied_data}


def test_a_block_of_one_chunk_is_stored_without_checksums_and_read_checked_by_its_id(tmp_path):
    assert checked_by_id(C) and not checked_by_id(C + 1)
    store, blocks = small_blocks_stored_every_way(tmp_path)
    assert os.listdir(store.volumes[0].incoming) == []
    for block_id, data in blocks.items():
        assert not os.path.exists(store.sums_path(block_id))
        assert store.read_checked_sync(block_id, 0, len(data), cached_only=True) == data
        assert store.read_verified_sync(block_id, len(data) // 2, len(data) - len(data) // 2) == data[len(data) // 2:]
        assert store.read_verified_sync(block_id, 0, 0) == b""
        assert store.chunk_sums_sync(block_id) == chunks.encode(chunks.sums_of(data))
        assert store.verify_sync(block_id) is True
        assert not os.path.exists(store.sums_path(block_id)), "a check writes no checksum file for it"
    with pytest.raises(BadRequest):
        store.read_verified_sync(next(iter(blocks)), C - 1, 2)
    assert store.scan_sync() == set(blocks)


@pytest.mark.parametrize("offset, start, count", [(0, 0, C), (C - 1, 0, 1), (5, C - 10, 10)])
def test_a_flipped_byte_in_a_block_of_one_chunk_is_never_read(tmp_path, offset, start, count):
    data = os.urandom(C)
    store, block_id = stored_block(tmp_path, data)
    flip_byte(store.path(block_id), offset)
    assert store.read_checked_sync(block_id, start, count, cached_only=True) is None, "not on the reactor either"
    with pytest.raises(Corrupt):
        store.read_verified_sync(block_id, start, count)
    assert not store.has(block_id) and os.path.exists(os.path.join(store.volumes[0].quarantine, block_id))


def test_a_rotten_block_of_one_chunk_has_no_checksums_to_give(tmp_path):
    store, block_id = stored_block(tmp_path, os.urandom(3000))
    flip_byte(store.path(block_id), 2999)
    with pytest.raises(Corrupt):
        store.chunk_sums_sync(block_id)
    assert not store.has(block_id)


def test_a_truncated_or_grown_block_of_one_chunk_is_quarantined(tmp_path):
    store, blocks = small_blocks_stored_every_way(tmp_path)
    short, grown = [block_id for block_id, data in blocks.items() if len(data) > 1]
    with open(store.path(short), "r+b") as f:
        f.truncate(100)
    with open(store.path(grown), "ab") as f:
        f.write(os.urandom(C))  # now longer than a chunk, and with no checksum file
    for block_id in (short, grown):
        with pytest.raises(Corrupt):
            store.read_verified_sync(block_id, 0, 10)
        assert not store.has(block_id)


def test_a_small_block_an_older_release_stored_with_checksums_reads_and_deletes_with_them(tmp_path):
    data = os.urandom(500)
    store, block_id = stored_block(tmp_path, data)
    with open(store.sums_path(block_id), "wb") as f:  # as a datanode before checked_by_id left it
        f.write(chunks.encode(chunks.sums_of(data)))
    assert store.read_verified_sync(block_id, 100, 400) == data[100:]
    assert store.chunk_sums_sync(block_id) == chunks.encode(chunks.sums_of(data))
    assert store.delete_sync(block_id) == 500
    assert os.listdir(os.path.dirname(store.path(block_id))) == []
