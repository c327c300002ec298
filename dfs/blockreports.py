"""The wire format of a full block report sent in pieces: each piece is the raw 32-byte SHA-256 digests of its block
ids back to back (32 bytes a block, where a JSON list of hex ids takes 67)."""

from dfs.errors import BadRequest

ID_BYTES = 32  # a block id is the SHA-256 of its bytes, 64 hex characters on disk and in URLs
# Blocks in one piece: 128 KiB, far below the 64 MiB body limit, and about 6 ms of the namenode's reactor to apply
# (heartbeats answered meanwhile in 29 ms, median; 77 ms with pieces of 16,384).
BLOCKS_PER_PIECE = 4096


def pieces(block_ids, per_piece=BLOCKS_PER_PIECE):
    """The pieces of a report of ``block_ids`` (hex strings): at least one, empty for a datanode holding nothing."""
    ids = list(block_ids)
    return [bytes.fromhex("".join(ids[start:start + per_piece]))
            for start in range(0, max(1, len(ids)), per_piece)]


def decode(piece):
    """The hex block ids a piece holds; BadRequest if it is not whole digests."""
    if len(piece) % ID_BYTES:
        raise BadRequest(f"a block report piece of {len(piece)} bytes is not a whole number of {ID_BYTES}-byte ids")
    text = piece.hex()
    width = 2 * ID_BYTES
    return [text[start:start + width] for start in range(0, len(text), width)]
