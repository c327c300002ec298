"""Local test files: big random ones made without holding them in memory, and their digests."""

import hashlib
import os


def random_file(path, size, chunk=1 << 20):
    hasher = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left:
            data = os.urandom(min(chunk, left))
            hasher.update(data)
            f.write(data)
            left -= len(data)
    return hasher.hexdigest()


def sha256_of(path):
    hasher = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            hasher.update(chunk)
    return hasher.hexdigest()


def flip_byte(path, offset=100):
    """Flip one byte in place and put the mtime back, as a failing disk would."""
    st = os.stat(path)
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0xFF]))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
