"""Domain errors. Each carries its HTTP status and WebHDFS exception name; one place maps them to responses."""


class DFSError(Exception):
    """Base of every error a client may see. ``status`` and ``exception`` follow Hadoop's WebHDFS mapping."""

    status = 500
    exception = "RuntimeException"
    java_class = "java.lang.RuntimeException"

    def __init__(self, message):
        super().__init__(message)
        self.message = message

    def to_json(self):
        return {
            "RemoteException": {
                "exception": self.exception,
                "javaClassName": self.java_class,
                "message": self.message,
            }
        }


class FileNotFound(DFSError):
    status = 404
    exception = "FileNotFoundException"
    java_class = "java.io.FileNotFoundException"


class BadRequest(DFSError):
    status = 400
    exception = "IllegalArgumentException"
    java_class = "java.lang.IllegalArgumentException"


class Unsupported(DFSError):
    status = 400
    exception = "UnsupportedOperationException"
    java_class = "java.lang.UnsupportedOperationException"


class IOFailure(DFSError):
    """Hadoop answers every plain IOException with 403."""

    status = 403
    exception = "IOException"
    java_class = "java.io.IOException"


class AlreadyExists(IOFailure):
    exception = "FileAlreadyExistsException"
    java_class = "org.apache.hadoop.fs.FileAlreadyExistsException"


class NotADirectory(IOFailure):
    exception = "ParentNotDirectoryException"
    java_class = "org.apache.hadoop.fs.ParentNotDirectoryException"


class IsADirectory(IOFailure):
    """A file operation on a directory (Hadoop's PathIsDirectoryException, an IOException: 403)."""

    exception = "PathIsDirectoryException"
    java_class = "org.apache.hadoop.fs.PathIsDirectoryException"


class DirectoryNotEmpty(IOFailure):
    exception = "PathIsNotEmptyDirectoryException"
    java_class = "org.apache.hadoop.fs.PathIsNotEmptyDirectoryException"


class AccessDenied(IOFailure):
    exception = "AccessControlException"
    java_class = "org.apache.hadoop.security.AccessControlException"


class Unauthorized(DFSError):
    status = 401
    exception = "SecurityException"
    java_class = "java.lang.SecurityException"


class Unavailable(DFSError):
    """Not enough datanodes, or the namenode is in safe mode: retry later."""

    status = 503
    exception = "RetriableException"
    java_class = "org.apache.hadoop.ipc.RetriableException"


class NoSpace(DFSError):
    status = 507
    exception = "DiskQuotaExceededException"
    java_class = "org.apache.hadoop.hdfs.protocol.DSQuotaExceededException"


class Corrupt(DFSError):
    status = 500
    exception = "ChecksumException"
    java_class = "org.apache.hadoop.fs.ChecksumException"


class RangeNotSatisfiable(DFSError):
    status = 416
    exception = "IllegalArgumentException"
    java_class = "java.lang.IllegalArgumentException"


class TooLarge(DFSError):
    status = 413
    exception = "IllegalArgumentException"
    java_class = "java.lang.IllegalArgumentException"


class URITooLong(DFSError):
    status = 414
    exception = "IllegalArgumentException"
    java_class = "java.lang.IllegalArgumentException"


class HeaderTooLarge(DFSError):
    status = 431
    exception = "IllegalArgumentException"
    java_class = "java.lang.IllegalArgumentException"


class RequestTimeout(DFSError):
    status = 408
    exception = "IOException"
    java_class = "java.io.IOException"


class TooManyRequests(DFSError):
    """Too many uploads at once from one address: retry when one ends."""

    status = 429
    exception = "RetriableException"
    java_class = "org.apache.hadoop.ipc.RetriableException"


_BY_NAME = {}
for _cls in list(globals().values()):
    if isinstance(_cls, type) and issubclass(_cls, DFSError):
        _BY_NAME.setdefault(_cls.exception, _cls)


def from_remote(status, body):
    """Rebuild a domain error from a RemoteException body (used by clients)."""
    try:
        remote = body["RemoteException"]
        name, message = remote["exception"], remote["message"]
    except (KeyError, TypeError):
        name, message = None, str(body)[:500] or f"HTTP {status}"
    cls = _BY_NAME.get(name)
    if cls is None or cls.status != status:
        cls = next((c for c in _BY_NAME.values() if c.status == status), DFSError)
    err = cls(message)
    err.status = status
    return err
