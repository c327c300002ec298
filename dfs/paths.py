"""Namespace paths: the one place where a path is parsed, validated and normalised."""

import posixpath
import unicodedata

from dfs.errors import BadRequest, NameTooLong, PathTooLong

# A name as on Linux file systems (NAME_MAX). A whole path well beyond Linux's PATH_MAX (4,096), so a tree built
# step by step below a subdirectory of the mount stays usable (HDFS allows 8,000 characters), and as deep as HDFS
# allows. The HTTP request-line limit (dfs.limits) leaves room for two such paths fully percent-encoded.
MAX_NAME_BYTES = 255
MAX_PATH_BYTES = 16 * 1024
MAX_DEPTH = 1000
# A symlink's target: any text the kernel would take (Linux: at most PATH_MAX - 1 bytes, no NUL).
MAX_TARGET_BYTES = 4095
# HDFS's reserved name under which a snapshottable directory shows its read-only snapshots: <dir>/.snapshot/<name>.
SNAPSHOT = ".snapshot"


def normalize(path):
    """Return the canonical absolute form of ``path`` or raise BadRequest naming the problem."""
    if not isinstance(path, str):
        raise BadRequest("path must be text")
    if not path.startswith("/"):
        raise BadRequest(f"path must be absolute: {path!r}")
    path = unicodedata.normalize("NFC", path)
    if len(path.encode("utf-8")) > MAX_PATH_BYTES:
        raise PathTooLong(f"path longer than {MAX_PATH_BYTES} bytes (UTF-8): {path[:60]}...")
    parts = [p for p in path.split("/") if p != ""]
    if len(parts) > MAX_DEPTH:
        raise PathTooLong(f"path deeper than {MAX_DEPTH} levels: {path[:60]}...")
    for part in parts:
        check_name(part)
    return "/" + "/".join(parts)


def check_name(name):
    if name in (".", ".."):
        raise BadRequest(f"path may not contain {name!r} segments")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise BadRequest("path may not contain NUL or control characters")
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        raise NameTooLong(f"The maximum path component name limit of {name[:40]}... is exceeded:"
                          f" limit={MAX_NAME_BYTES} length={len(name.encode('utf-8'))} (bytes, UTF-8)")
    return name


def check_target(target):
    """A symlink's target, kept as given (relative or absolute, ``..`` included: only the reader resolves it)."""
    if not target or "\0" in target:
        raise BadRequest("a symlink target must be non-empty text without NUL")
    if len(target.encode("utf-8")) > MAX_TARGET_BYTES:
        raise NameTooLong(f"symlink target longer than {MAX_TARGET_BYTES} bytes (UTF-8): {target[:60]}...")
    return target


def split(path):
    """The components of a canonical path: '/a/b' -> ['a', 'b']."""
    return [p for p in path.split("/") if p]


def in_snapshot(path):
    """Whether ``path`` names something under a snapshot (read-only)."""
    return SNAPSHOT in split(path)


def parent(path):
    return posixpath.dirname(path) or "/"


def basename(path):
    return posixpath.basename(path)


def join(directory, name):
    return normalize(posixpath.join(directory, name))


def is_ancestor(ancestor, path):
    """True when ``path`` is ``ancestor`` or lies below it."""
    return ancestor == "/" or path == ancestor or path.startswith(ancestor + "/")
