"""-o writeback's queue: files closed while every worker's upload is under way leave together, the small ones of one
caller in one CREATEBATCH, a large one by itself; a file the batch's answer refuses is kept, the others let go."""

import argparse
import os
import threading
import time

from dfs import filebatch
from dfs.client.acting import acting_for
from dfs.errors import NSQuotaExceeded
from dfs.fuse.operations import WRITEBACK_THREADS, DFSOperations

WAIT = 60.0


class GatedClient:
    """Uploads that wait for ``gate``; the requests they made, as lists of paths."""

    def __init__(self):
        self.gate = threading.Event()
        self.requests = []
        self.entered = 0
        self._lock = threading.Lock()
        self._ids = iter(range(1, 1 << 20))

    def _enter(self, paths):
        with self._lock:
            self.entered += 1
        assert self.gate.wait(WAIT)
        with self._lock:
            self.requests.append(paths)

    def _status(self, path):
        with self._lock:
            return {"pathSuffix": "", "type": "FILE", "length": 0, "fileId": next(self._ids), "permission": "644",
                    "modificationTime": 0, "accessTime": 0, "owner": "u", "group": "g"}

    def upload(self, path, fileobj, **params):
        self._enter([path])
        return self._status(path)

    def create_files(self, files):
        self._enter([f["path"] for f in files])
        return [NSQuotaExceeded("quota") if "refused" in f["path"] else self._status(f["path"]) for f in files]


def _poll(predicate, what):
    deadline = time.monotonic() + WAIT
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def _write_and_close(operations, path, size):
    fi = argparse.Namespace(flags=os.O_WRONLY | os.O_CREAT, fh=None)
    operations.create(path, 0o644, fi)
    operations.write(path, b"x" * size, 0, fi)
    operations.flush(path, fi)
    operations.release(path, fi)


def test_files_closed_while_uploads_are_under_way_leave_together(tmp_path):
    client = GatedClient()
    operations = DFSOperations(client, str(tmp_path), writeback=True)
    try:
        for i in range(WRITEBACK_THREADS):  # each worker busy with one file
            _write_and_close(operations, f"/busy{i}", 10)
            _poll(lambda: client.entered == i + 1, f"worker {i} uploading")
        piled = ["/a", "/refused", "/b", "/large", "/c"]
        for path in piled:
            _write_and_close(operations, path, filebatch.MAX_FILE + 1 if path == "/large" else 100)
        with acting_for(("someone-else", ("users",))):
            _write_and_close(operations, "/other", 100)
        client.gate.set()
        _poll(lambda: operations._pending == 0 and len(operations._files) == 1, "every upload")
        piled_requests = sorted(paths for paths in client.requests if not paths[0].startswith("/busy"))
        assert piled_requests == [["/a", "/refused", "/b", "/c"], ["/large"], ["/other"]]
        kept = operations._files["/refused"]  # dirty, for the next fsync or close to upload and report
        assert kept.write_back_failed and kept.needs_upload
    finally:
        client.gate.set()
        operations.destroy("/")
