"""Range arithmetic over a file's extents (dfs.extents) against a plain bytes model: the file is the concatenation
of its extents' bytes, and a range of it is a slice."""

import os

from hypothesis import given
from hypothesis import strategies as st

from dfs import extents as file_extents
from dfs.errors import BadRequest
from dfs.namenode.namespace.model import Extent

lengths = st.lists(st.integers(1, 50), min_size=0, max_size=6)
positions = st.integers(0, 300)
read_lengths = st.none() | st.integers(0, 300)


def _file(lengths):
    """Blocks with a byte of slack either side of each extent, the extents, and the file's bytes."""
    blocks = {f"{i:064x}": os.urandom(n + 3) for i, n in enumerate(lengths)}
    extents = [(block_id, 2, n) for block_id, n in zip(blocks, lengths)]
    return blocks, extents, b"".join(blocks[b][2:2 + n] for b, _, n in extents)


@given(lengths, positions, read_lengths)
def test_the_pieces_of_a_range_are_its_slice_of_the_file(lengths, offset, length):
    blocks, extents, content = _file(lengths)
    assert file_extents.decode(file_extents.encode(extents)) == extents
    assert file_extents.size(extents) == len(content)
    end = file_extents.clamp(offset, length, len(content))
    wanted = content[offset:] if length is None else content[offset:offset + length]
    assert max(0, end - offset) == len(wanted)
    got = b"".join(blocks[b][s:s + n] for b, s, n in file_extents.pieces(extents, offset, end))
    assert got == wanted


@given(lengths, positions, positions)
def test_the_overlapping_extents_are_those_holding_a_byte_of_the_range(lengths, offset, end):
    _, extents, _ = _file(lengths)
    starts = [sum(lengths[:i]) for i in range(len(lengths))]
    holding = [(ext, start) for ext, start in zip(extents, starts)
               if any(offset <= byte < end for byte in range(start, start + ext[2]))]
    assert list(file_extents.overlapping(extents, offset, end)) == holding


@given(positions, st.integers(0, 50), positions, positions)
def test_a_cut_keeps_the_bytes_of_a_span_inside_the_range(position, count, offset, end):
    inside = [byte for byte in range(position, position + count) if offset <= byte < end]
    cut = file_extents.cut(position, count, offset, end)
    assert cut == ((inside[0] - position, len(inside)) if inside else None)


@given(st.lists(st.tuples(st.integers(0, 40), st.integers(0, 40)), max_size=6), st.integers(0, 40))
def test_holes_go_where_they_belong_and_read_as_zeros(runs, tail):
    """A file of runs (hole bytes, data bytes) and a final hole: uploaded as its data with the holes named, then
    read back through the wire form and through BlockLocations (holes as the gaps between them)."""
    content, data, holes = b"", b"", []
    for gap, count in runs:
        if gap:
            holes.append((len(content), gap))
            content += bytes(gap)
        chunk = os.urandom(count)
        content, data = content + chunk, data + chunk
    if tail:
        holes.append((len(content), tail))
        content += bytes(tail)
    holes = file_extents.decode_holes(file_extents.encode_holes(holes))
    block = f"{1:064x}"
    stored = [Extent(block, 0, len(data), len(data))] if data else []
    extents = file_extents.with_holes(stored, holes, Extent.hole)
    assert file_extents.decode(file_extents.encode(extents)) == [tuple(e[:3]) for e in extents]

    def read(pieces):
        return b"".join(bytes(n) if b is None else data[s:s + n] for b, s, n, *_ in pieces)

    assert read(extents) == content
    locations, position = [], 0
    for block_id, start, count, _ in extents:
        if block_id is not None:
            locations.append({"blockId": block_id, "blockOffset": start, "length": count, "offset": position})
        position += count
    assert read(file_extents.with_gaps(locations, len(content))) == content
    assert file_extents.version(file_extents.with_gaps(locations, len(content))) == file_extents.version(extents)


def test_holes_side_by_side_name_the_version_of_one_hole():
    """CONCAT of a file ending in a hole and one starting with a hole: the datanode sees one gap."""
    block = f"{1:064x}"
    split = [(block, 0, 5), (None, 0, 3), (None, 0, 4), (block, 5, 1)]
    assert file_extents.version(split) == file_extents.version([(block, 0, 5), (None, 0, 7), (block, 5, 1)])
    assert file_extents.version(split) != file_extents.version([(block, 0, 5), (None, 0, 8), (block, 5, 1)])


def test_holes_must_be_in_order_and_apart():
    for text in ("5:0", "10:5,12:3", "x:1", "1:2:3", "-1:4"):
        try:
            file_extents.decode_holes(text)
        except BadRequest:
            continue
        raise AssertionError(f"{text} was accepted")
