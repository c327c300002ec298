"""Range arithmetic over a file's extents (dfs.extents) against a plain bytes model: the file is the concatenation
of its extents' bytes, and a range of it is a slice."""

import os

from hypothesis import given
from hypothesis import strategies as st

from dfs import extents as file_extents

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
