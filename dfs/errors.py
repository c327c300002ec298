"""Domain errors. Each carries its HTTP status and WebHDFS exception name; one place maps them to responses.

The Python client raises the same classes: catch ``FileNotFound``, ``FileExists``, ``PermissionDenied``... or
``DFSError`` for all of them.
"""


class DFSError(Exception):
    """Base of every error a client may see. ``status`` and ``exception`` follow Hadoop's WebHDFS mapping.

    ``message`` is the server's text; ``path``, when the client knows it, is the path the caller passed, and
    ``str()`` of the error names it."""

    status = 500
    exception = "RuntimeException"
    java_class = "java.lang.RuntimeException"

    def __init__(self, message, path=None):
        super().__init__(message)
        self.message = message
        self.path = path

    def __str__(self):
        if self.path is None or self.path in self.message:
            return self.message
        return f"{self.path}: {self.message}"

    def to_json(self):
        return {
            "RemoteException": {
                "exception": self.exception,
                "javaClassName": self.java_class,
                "message": self.message,
            }
        }


class FileNotFound(DFSError):
    """Nothing at the path (or a directory where a file operation expected a file)."""

    status = 404
    exception = "FileNotFoundException"
    java_class = "java.io.FileNotFoundException"


class BadRequest(DFSError):
    """A bad parameter, path or body (400)."""

    status = 400
    exception = "IllegalArgumentException"
    java_class = "java.lang.IllegalArgumentException"


class NameTooLong(BadRequest):
    """A path component longer than dfs.paths.MAX_NAME_BYTES (HDFS's name for it); ENAMETOOLONG in the mount."""

    exception = "PathComponentTooLongException"
    java_class = "org.apache.hadoop.hdfs.protocol.FSLimitException$PathComponentTooLongException"


class PathTooLong(NameTooLong):
    """A whole path over dfs.paths.MAX_PATH_BYTES or MAX_DEPTH (HDFS has no class of its own for it)."""

    exception = "PathTooLongException"
    java_class = "java.lang.IllegalArgumentException"


class Unsupported(DFSError):
    """An operation dfs does not offer (400)."""

    status = 400
    exception = "UnsupportedOperationException"
    java_class = "java.lang.UnsupportedOperationException"


class IOFailure(DFSError):
    """Hadoop answers every plain IOException with 403."""

    status = 403
    exception = "IOException"
    java_class = "java.io.IOException"


class CannotMove(IOFailure):
    """A rename or copy that would put a directory inside itself, or move the root (HDFS: a plain IOException)."""


class FileExists(IOFailure):
    """The target exists and the operation does not replace it (pass ``overwrite=True``)."""

    exception = "FileAlreadyExistsException"
    java_class = "org.apache.hadoop.fs.FileAlreadyExistsException"


AlreadyExists = FileExists  # the name the server code uses


class NotADirectory(IOFailure):
    """A path component, or the target of a directory operation, is a file."""

    exception = "ParentNotDirectoryException"
    java_class = "org.apache.hadoop.fs.ParentNotDirectoryException"


class IsADirectory(IOFailure):
    """A file operation on a directory (Hadoop's PathIsDirectoryException, an IOException: 403)."""

    exception = "PathIsDirectoryException"
    java_class = "org.apache.hadoop.fs.PathIsDirectoryException"


class DirectoryNotEmpty(IOFailure):
    """A directory to remove or replace still has entries."""

    exception = "PathIsNotEmptyDirectoryException"
    java_class = "org.apache.hadoop.fs.PathIsNotEmptyDirectoryException"


class PermissionDenied(IOFailure):
    """The credentials do not allow the request (a read-only token that writes, a client on a members' endpoint)."""

    exception = "AccessControlException"
    java_class = "org.apache.hadoop.security.AccessControlException"


AccessDenied = PermissionDenied  # the name the server code uses


class AccessControlException(PermissionDenied):
    """A permission check on the namespace failed (dfs.namenode.permissions): the message is HDFS's own text, naming
    the user, the access and the inode (``Permission denied: user=bob, access=WRITE, inode="/home/alice":...``).
    A client rebuilds it as ``PermissionDenied``, the class it catches for every 403 AccessControlException."""


class AclException(IOFailure):
    """An ACL change HDFS's rules refuse (a missing base entry, a duplicate, a default ACL on a file): 403, as an
    IOException is in WebHDFS."""

    exception = "AclException"
    java_class = "org.apache.hadoop.hdfs.protocol.AclException"


class SnapshotException(IOFailure):
    """A snapshot operation refused (HDFS's SnapshotException): a directory not snapshottable, a name taken or
    missing, a directory with snapshots deleted, moved or disallowed."""

    exception = "SnapshotException"
    java_class = "org.apache.hadoop.hdfs.protocol.SnapshotException"


class SnapshotAccessControlException(AccessControlException):
    """A change under ``<dir>/.snapshot``: snapshots are read-only (HDFS's text and class); EROFS in the mount."""

    exception = "SnapshotAccessControlException"
    java_class = "org.apache.hadoop.hdfs.protocol.SnapshotAccessControlException"


class AuthorizationException(PermissionDenied):
    """A real user may not act for the user a request names (WebHDFS ``doas``: dfs.namenode.proxyusers)."""

    exception = "AuthorizationException"
    java_class = "org.apache.hadoop.security.authorize.AuthorizationException"


class QuotaExceeded(IOFailure):
    """A change would take a directory past its quota (``dfs quota``, WebHDFS SETQUOTA); EDQUOT in the mount."""


class NSQuotaExceeded(QuotaExceeded):
    """Past a directory's name quota: the number of files and directories at or below it."""

    exception = "NSQuotaExceededException"
    java_class = "org.apache.hadoop.hdfs.protocol.NSQuotaExceededException"

    @classmethod
    def of(cls, path, quota, count):
        return cls(f"The NameSpace quota (directories and files) of directory {path} is exceeded: quota={quota}"
                   f" file count={count}", path)


class DSQuotaExceeded(QuotaExceeded):
    """Past a directory's space quota: the bytes of its files, every replica counted."""

    exception = "DSQuotaExceededException"
    java_class = "org.apache.hadoop.hdfs.protocol.DSQuotaExceededException"

    @classmethod
    def of(cls, path, quota, consumed):
        return cls(f"The DiskSpace quota of {path} is exceeded: quota = {quota} B = {_binary(quota)} but diskspace"
                   f" consumed = {consumed} B = {_binary(consumed)}", path)


class QuotaByStorageTypeExceeded(QuotaExceeded):
    """Past a directory's quota by storage type (DISK, the only one dfs has): counted as the space quota is."""

    exception = "QuotaByStorageTypeExceededException"
    java_class = "org.apache.hadoop.hdfs.protocol.QuotaByStorageTypeExceededException"

    @classmethod
    def of(cls, path, storage_type, quota, consumed):
        return cls(f"Quota by storage type : {storage_type} on path : {path} is exceeded. quota = {_binary(quota)}"
                   f" but space consumed = {_binary(consumed)}", path)


def _binary(n):
    """``n`` bytes as Hadoop's quota messages write them (TraditionalBinaryPrefix.long2String(n, "B", 2)):
    ``500 B``, ``3 KB``, ``1.50 MB``."""
    if n < 1024:
        return f"{n} B"
    shift = 10
    while shift < 60 and n >= 1 << (shift + 10):
        shift += 10
    symbol = "KMGTPE"[shift // 10 - 1]
    if n % (1 << shift) == 0:
        return f"{n >> shift} {symbol}B"
    text = f"{n / (1 << shift):.2f}"
    if text.startswith("1024") and shift < 60:
        shift += 10
        symbol = "KMGTPE"[shift // 10 - 1]
        text = f"{n / (1 << shift):.2f}"
    return f"{text} {symbol}B"


class Unauthorized(DFSError):
    """No credentials, or credentials the cluster does not accept (a bad or expired token)."""

    status = 401
    exception = "SecurityException"
    java_class = "java.lang.SecurityException"


class Unavailable(DFSError):
    """Not enough datanodes, or the namenode is in safe mode: retry later."""

    status = 503
    exception = "RetriableException"
    java_class = "org.apache.hadoop.ipc.RetriableException"


class OutcomeUnknown(Unavailable):
    """A change was sent to a namenode that went away before answering: it may or may not have been made, and
    sending it again could make it twice (or fail because it was made)."""


class Conflict(DFSError):
    """The request crossed a newer change (a delete of a block stored again since): nothing was done."""

    status = 409
    exception = "ConcurrentModificationException"
    java_class = "java.util.ConcurrentModificationException"


class NotLeader(Conflict):
    """Background work (GC, repair) of a namenode whose lease passed to another, or of an older epoch: refused."""


class BadGateway(DFSError):
    """A server this one had to ask (the source of a block copy) could not be reached or failed: 502 names it."""

    status = 502
    exception = "IOException"
    java_class = "java.io.IOException"


class NoSpace(DFSError):
    """The datanodes, or the namenode's disk, are out of space; nothing was committed. 507, not 503: retrying cannot
    help until space is freed, so no client retries it. Hadoop's own exception for it, an IOException a Java client
    rebuilds."""

    status = 507
    exception = "ClusterStorageCapacityExceededException"
    java_class = "org.apache.hadoop.fs.ClusterStorageCapacityExceededException"


class Corrupt(DFSError):
    """No replica of a block has the right bytes; nothing wrong was returned."""

    status = 500
    exception = "ChecksumException"
    java_class = "org.apache.hadoop.fs.ChecksumException"


class RangeNotSatisfiable(DFSError):
    status = 416
    exception = "IllegalArgumentException"
    java_class = "java.lang.IllegalArgumentException"


class TooLarge(DFSError):
    """A request body over the server's limit (413)."""

    status = 413
    exception = "IllegalArgumentException"
    java_class = "java.lang.IllegalArgumentException"


class FileTooLarge(DFSError):
    """A write would make a file larger than the namenode's maximum file size (EFBIG through the mount)."""

    status = 413
    exception = "FileTooLargeException"
    java_class = "java.io.IOException"


class URITooLong(DFSError):
    """A request line or query over the server's limit (414)."""

    status = 414
    exception = "IllegalArgumentException"
    java_class = "java.lang.IllegalArgumentException"


class HeaderTooLarge(DFSError):
    """Request headers over the server's limit (431)."""

    status = 431
    exception = "IllegalArgumentException"
    java_class = "java.lang.IllegalArgumentException"


class RequestTimeout(DFSError):
    """Request headers that did not arrive in time (408)."""

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
