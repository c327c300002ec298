"""The body of dfs's CREATEBATCH (docs/webhdfs.md): several small files' CREATEs in one request, and its answer.

Each file is framed as ``>II`` (its head's length, its bytes' length), its head: the path and query of the CREATE
it stands for (``/d/f?permission=644&overwrite=true&clientid=...&callid=7``, ASCII, percent-encoded), then its
bytes. The client (dfs.client.core) frames, the namenode (dfs.namenode.app) reads; both bound a batch here.
"""

import json
import struct
from urllib.parse import quote, urlencode

from dfs.errors import BadRequest, DFSError, from_remote

MAX_FILE = 1024 * 1024  # bytes of one file a batch may carry (a larger one is its own CREATE)
MAX_BYTES = 8 * 1024 * 1024  # bytes of all its files
MAX_FILES = 256
MAX_HEAD = 64 * 1024  # a path of 16 KiB, percent-encoded, and CREATE's parameters
_FRAME = struct.Struct(">II")


def encode(files):
    """The body for ``files``: [(path, {CREATE parameter: text}, bytes)]."""
    if len(files) > MAX_FILES or sum(len(data) for _, _, data in files) > MAX_BYTES:
        raise BadRequest(f"a batch holds at most {MAX_FILES} files and {MAX_BYTES} bytes")
    parts = []
    for path, params, data in files:
        head = f"{quote(path)}?{urlencode(params)}".encode("ascii")
        parts += [_FRAME.pack(len(head), len(data)), head, data]
    return b"".join(parts)


def decode(read):
    """[(raw URL path, raw query, bytes)] of each file of a body ``read(n)`` gives; BadRequest for a malformed or
    oversized one, before any file is stored."""
    files, total = [], 0
    while frame := read(_FRAME.size):
        if len(frame) < _FRAME.size:
            raise BadRequest("a CREATEBATCH body ends inside a file's frame")
        head_length, length = _FRAME.unpack(frame)
        total += length
        if len(files) == MAX_FILES or head_length > MAX_HEAD or length > MAX_FILE or total > MAX_BYTES:
            raise BadRequest(f"a batch holds at most {MAX_FILES} files of at most {MAX_FILE} bytes,"
                             f" {MAX_BYTES} bytes in all")
        head, data = read(head_length), read(length)
        if len(head) < head_length or len(data) < length:
            raise BadRequest("a CREATEBATCH body ends inside a file")
        path, _, query = head.partition(b"?")
        files.append((path, query, data))
    return files


def answer(outcomes):
    """The JSON answer: per file, in order, ``{"FileStatus": ...}`` (the text CREATE's DFS-File-Status gives) or its
    error as ``{"status": <HTTP status>, "RemoteException": ...}``."""
    parts = [outcome if isinstance(outcome, str) else json.dumps({"status": outcome.status, **outcome.to_json()})
             for outcome in outcomes]
    return ('{"files":[' + ",".join(parts) + "]}").encode()


def status_entry(file_status):
    """An answer's entry for a created file, from its FileStatus JSON text."""
    return '{"FileStatus":' + file_status + "}"


def outcomes(body, paths):
    """Per file of ``paths`` (in the order sent), its FileStatus dict or the DFSError (naming its path) that
    refused it, from the answer ``body``."""
    files = json.loads(body)["files"]
    if len(files) != len(paths):
        raise DFSError(f"the namenode answered {len(files)} files of a batch of {len(paths)}")
    found = []
    for entry, path in zip(files, paths):
        if "FileStatus" in entry:
            found.append(entry["FileStatus"])
        else:
            error = from_remote(entry["status"], entry)
            error.path = path
            found.append(error)
    return found
