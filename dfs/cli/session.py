"""What every command runs against: a client made on first use, the working directory, the standard streams."""

import posixpath
import sys
from contextlib import contextmanager

from dfs import paths
from dfs.cli.errors import OK, Failure, about, failure
from dfs.cli.progress import Progress
from dfs.client.config import resolve
from dfs.errors import DFSError, FileNotFound


class Session:
    """State shared by the commands of one ``dfs`` run or one ``dfs shell``."""

    def __init__(self, namenode=None, token=None, cwd="/", stdin=None, stdout=None, stderr=None,
                 timeouts=(None, None), user=None):
        self.namenode = namenode
        self.token = token
        self.user = user  # None: $DFS_USER, the config file, the login name (dfs.client.config.resolve)
        self.timeouts = timeouts  # (connect, read) seconds, None for the configured ones
        self.cwd = cwd
        self.previous_cwd = cwd
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self._client = None
        self._bar = None

    @property
    def client(self):
        if self._client is None:
            from dfs.client.blocking import BlockingClient  # here: commands that need no cluster start faster

            self._client = BlockingClient(self.namenode, self.token, user=self.user,
                                          connect_timeout=self.timeouts[0], read_timeout=self.timeouts[1])
        return self._client

    @property
    def namenode_url(self):
        if self._client is not None:
            return self._client.namenode_url
        return resolve(self.namenode, self.token)["namenode"]

    def path(self, text):
        """The absolute, validated dfs path for ``text``; relative paths start at the working directory."""
        joined = posixpath.normpath(posixpath.join(self.cwd, text))
        try:
            return paths.normalize("/" + joined.lstrip("/"))
        except DFSError as e:
            raise failure(e, text) from None

    def lookup(self, path, text, at=None):
        """The FileStatus at ``path`` (``at``: as it was then), or None when nothing is there."""
        with about(text):
            try:
                return self.client.stat(path, at)
            except FileNotFound:
                return None

    def file_failure(self, error, path, text):
        """The Failure for an error from a file-only operation: the namenode calls a directory 'not found'."""
        if isinstance(error, FileNotFound):
            status = self.lookup(path, text)
            if status is not None and status.get("type") == "DIRECTORY":
                return Failure(text, "Is a directory")
        return failure(error, text)

    @contextmanager
    def progress(self, total, files, enabled=True):
        """A progress bar on stderr for a transfer of ``total`` bytes in ``files`` files (drawn only on a terminal)."""
        bar = Progress(self.stderr, total, files, wanted=enabled)
        self._bar = bar
        try:
            yield bar
        except BaseException:
            bar.break_line()
            raise
        finally:
            self._bar = None
        bar.finish()

    def complain(self, command, path, reason):
        """Print one error line: ``dfs: <command>: <path>: <reason>``."""
        if self._bar is not None:
            self._bar.break_line()
        parts = ["dfs", command] + ([path] if path else []) + [reason]
        try:
            self.stdout.flush()  # what the command printed before the error comes before it
        except (OSError, ValueError):
            pass
        print(": ".join(p for p in parts if p), file=self.stderr, flush=True)

    def each(self, command, items, action):
        """``action(item)`` for every item; a failure is reported and the rest still run. The worst exit status."""
        status = OK
        for item in items:
            try:
                action(item)
            except Failure as f:
                if f.fatal:
                    raise
                self.complain(command, f.path, f.reason)
                status = max(status, f.status)
        return status
