"""How a failed command is reported: one line, `dfs: <command>: <path>: <reason>`, and an exit code."""

from contextlib import contextmanager

from dfs.errors import (AlreadyExists, DFSError, DirectoryNotEmpty, FileNotFound, IsADirectory, NameTooLong,
                        NotADirectory, Unauthorized, Unavailable)

OK, FAILED, USAGE, INTERRUPTED, BROKEN_PIPE = 0, 1, 2, 130, 141

# The words coreutils uses, so scripts and people read dfs errors like local ones. The server's message would name
# the path a second time, in Hadoop's phrasing.
_PLAIN_WORDS = [
    (DirectoryNotEmpty, "Directory not empty"),
    (NotADirectory, "Not a directory"),
    (IsADirectory, "Is a directory"),
    (AlreadyExists, "File exists"),
    (FileNotFound, "No such file or directory"),
    (NameTooLong, "File name too long"),
]


class Failure(Exception):
    """One operation on one path failed; ``fatal`` when trying the next path is pointless (cluster unreachable)."""

    def __init__(self, path, reason, status=FAILED, fatal=False):
        super().__init__(reason)
        self.path = path
        self.reason = reason
        self.status = status
        self.fatal = fatal


class Usage(Failure):
    """The command line asks for something impossible; exit 2."""

    def __init__(self, reason, path=None, command=None):
        super().__init__(path, reason, status=USAGE, fatal=True)
        self.command = command


def reason(error, path=None):
    """The short reason for a DFSError or OSError, without repeating ``path``."""
    if isinstance(error, DFSError):
        for cls, words in _PLAIN_WORDS:
            if isinstance(error, cls):
                return words
        text = error.message
    else:
        text = error.strerror or str(error) or type(error).__name__
    if path and text.endswith(": " + path):
        text = text[: -len(path) - 2]
    return text


def failure(error, path=None):
    """A ``Failure`` for ``error`` raised while working on ``path``."""
    fatal = isinstance(error, (Unavailable, Unauthorized))
    return Failure(path, reason(error, path), fatal=fatal)


@contextmanager
def about(path):
    """A DFSError or OSError raised inside becomes a ``Failure`` naming ``path``."""
    try:
        yield
    except (Failure, BrokenPipeError):
        raise
    except (DFSError, OSError) as error:
        raise failure(error, path) from None
