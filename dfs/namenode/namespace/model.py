"""The namespace's typed model: what every backend returns and every caller reads. No rows, no SQL, no backend's
column names travel beyond the backend that made these."""

from dataclasses import dataclass, field
from typing import NamedTuple, Optional

ROOT = 1  # the root directory's inode id, in every backend
# Extended attributes one inode may hold (HDFS's dfs.namenode.fs-limits.max-xattrs-per-inode default).
MAX_XATTRS = 32

# Inode types. Files hold extents, directories entries, symlinks a target; special files are metadata only (the
# mount makes them; the kernel, not dfs, gives them their behaviour).
FILE = "FILE"
DIRECTORY = "DIRECTORY"
SYMLINK = "SYMLINK"
FIFO, SOCKET, CHAR_DEVICE, BLOCK_DEVICE = "FIFO", "SOCKET", "CHAR_DEVICE", "BLOCK_DEVICE"
SPECIAL = (FIFO, SOCKET, CHAR_DEVICE, BLOCK_DEVICE)

# ``block_targets`` gives each block its wanted replication and its size packed in one int: a dict of ints is never
# tracked by Python's cyclic collector, where one of tuples is walked entry by entry at each full collection (0.1 s
# and more a collection at millions of blocks, all of it holding the reactor).
_REPLICATION_BITS = 16


def block_target(wanted, size):
    return size << _REPLICATION_BITS | wanted


def wanted_of(target):
    return target & ((1 << _REPLICATION_BITS) - 1)


def size_of(target):
    return target >> _REPLICATION_BITS


@dataclass(slots=True)
class Inode:
    """An object in the namespace, apart from any name it has: directory entries point at it (a file may have
    several, as hard links). Times are milliseconds since the epoch, as WebHDFS reports them."""

    id: int
    type: str
    mode: int
    owner: str
    group: str
    mtime: int
    atime: int
    size: int = 0
    replication: int = 0  # files only
    block_size: int = 0  # files only
    nlink: int = 1  # directory entries that name it (a directory's POSIX count is Status.link_count)
    target: Optional[str] = None  # a symlink's target
    rdev: int = 0  # a device's number
    acl: Optional[str] = None  # the ACL entries the mode does not hold (dfs.namenode.acls); None: no ACL
    ctime: int = 0  # when the inode last changed: its data, attributes, times or links (POSIX's st_ctime)

    @property
    def is_directory(self):
        return self.type == DIRECTORY

    @property
    def is_file(self):
        return self.type == FILE


@dataclass(slots=True)
class DirEntry:
    """A name in a directory, and the inode it names."""

    parent: int
    name: str
    inode: int


@dataclass(slots=True)
class Status:
    """An inode as GETFILESTATUS and LISTSTATUS describe it: under ``name`` (WebHDFS's pathSuffix: the entry's name
    in a listing, empty for the path asked about), with ``children`` entries, ``subdirectories`` of them
    directories, when it is a directory; a file's ``holes`` are the bytes of it no block holds (sparse files)."""

    inode: Inode
    name: str = ""
    children: int = 0
    subdirectories: int = 0
    holes: int = 0
    snapshot_enabled: bool = False  # a snapshottable directory (WebHDFS's snapshotEnabled)

    @property
    def link_count(self):
        """POSIX's st_nlink: a directory's entry, its "." and each subdirectory's ".."; else its entries."""
        return 2 + self.subdirectories if self.inode.is_directory else self.inode.nlink


class Snapshot(NamedTuple):
    """A snapshot of a directory: HDFS's id, its name, its path (``<dir>/.snapshot/<name>``), and the Status of the
    directory as it was then (named by the snapshot, with the snapshot's time)."""

    id: int
    name: str
    path: str
    status: Status


class Extent(NamedTuple):
    """A run of a file's bytes: ``length`` bytes from ``block_offset`` in one immutable block of ``block_size``
    bytes, or, with no ``block_id``, a hole of ``length`` zero bytes that no datanode stores."""

    block_id: Optional[str]
    block_offset: int
    length: int
    block_size: int

    @classmethod
    def hole(cls, length):
        return cls(None, 0, length, 0)


class Block(NamedTuple):
    id: str
    size: int


@dataclass(slots=True)
class ContentSummary:
    directories: int = 0
    files: int = 0
    length: int = 0
    space_consumed: int = 0
    quota: int = -1  # the directory's name quota (-1: none)
    space_quota: int = -1  # its space quota in bytes, replicas counted (-1: none)
    disk_quota: int = -1  # its quota by storage type DISK, counted as the space quota is (-1: none)


@dataclass(slots=True)
class Problem:
    """What breaks the tree (fsck). A piece of the namespace no path reaches, named by its top inode (its entry's
    ``name`` and ``parent``, with the ``inodes`` and ``files`` in it): an ``orphan`` (its parent is gone, or, with
    ``parent`` 0, no entry names it), ``under_file`` (its parent is not a directory) or ``cycle`` (its entries loop
    through ``cycle``). Or an entry: ``missing_inode`` (the entry ``name`` of ``parent`` names the missing
    ``inode``), ``link_count`` (``inode``'s link count differs from the number of entries naming it)."""

    problem: str
    inode: int
    name: str
    parent: int
    inodes: int = 0
    files: int = 0
    cycle: list = field(default_factory=list)
