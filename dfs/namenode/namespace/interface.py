"""What the namenode asks of its namespace, whatever keeps it: one Protocol, every operation a Deferred of the model.

The namespace is the single source of truth for names, inodes, extents and block references (docs/architecture.md,
"The namespace layer"). Its callers (the WebHDFS handlers, repair, GC, pins, safe mode) see only this interface and
``namespace.model``; SQL, rows and column names stay in a backend.

Why a second backend fits: every operation is one transaction named by what it does (``rename``, ``create`` ...),
never a query, so a PostgreSQL backend implements the same methods with its own transaction runner (a connection
pool instead of the one SQLite writer thread) and its own concurrency rule: SERIALIZABLE transactions retried on a
serialization failure, or row locks taken on the ancestors of the paths a change touches, in path order, so two
renames cannot make a cycle. Nothing here assumes one process: pins and known datanodes are stored, not held in
memory, so several namenodes can share one database.

History: trash is a ``rename`` into a trash directory, no new operation. Snapshots and point-in-time reads keep
every replaced inode, entry and extent row with the commits it lived over (namespace.history, docs/architecture.md
"History"); the past reads below take a path under ``<dir>/.snapshot/<name>`` or a moment ``at``, and blocks are
never copied, since extents only name them. ``block_targets`` and ``collectable`` count as referenced every block
a snapshot or the retention window (``history_retention``, seconds) can still read.
"""

from typing import Optional, Protocol

from twisted.internet.defer import Deferred


class Namespace(Protocol):
    """Paths are normalised absolute strings (dfs.paths). Errors are dfs.errors: FileNotFound, NotADirectory,
    AlreadyExists, ... Times are milliseconds since the epoch. Every change is durable when its Deferred fires.

    ``checker``: the operations a client asks for take the request's permission checker
    (dfs.namenode.permissions.Checker; None for the namenode's own callers, which are not checked). A backend calls
    ``checker.check_operation`` with the WebHDFS operation's name first thing in the transaction that performs it,
    on the inodes that transaction reads (the path walked as far as it exists; for DELETE and GETCONTENTSUMMARY the
    directories below, through ``children``), so no change between the decision and the act can slip a request
    through; a denial raises AccessControlException and changes nothing.

    ``checker.operation``: a change a client numbered (namespace.retries.Operation) stores its answer in its own
    transaction; the same operation asked again answers that, without changing anything again (the retry
    cache: ``recall``)."""

    cluster_id: Optional[str]  # known after ``start``

    # -- life -------------------------------------------------------------------------------------

    def start(self) -> None:
        """Open the store, upgrade its schema to the code's version (refusing a newer one), create the root."""

    def stop(self) -> None:
        """Close the store; calls in flight may fail."""

    # -- reads ------------------------------------------------------------------------------------

    def stat(self, path: str, checker=None) -> Deferred:
        """(Inode, [Extent]) of ``path``; the extents of a file, in order, else empty. Checked as OPEN."""

    def status(self, path: str, checker=None) -> Deferred:
        """The Status of ``path`` (GETFILESTATUS): its inode and, for a directory, its number of entries."""

    def listing(self, path: str, start_after: Optional[str] = None, limit: Optional[int] = None,
                checker=None) -> Deferred:
        """(Status of ``path``, [Status of each entry, by name]): entries named after ``start_after``, at most
        ``limit`` of them (paged, for LISTSTATUS_BATCH). The entries are None when ``path`` is a file."""

    def count_entries(self, path: str, after: str) -> Deferred:
        """The number of entries of the directory ``path`` named after ``after`` (LISTSTATUS_BATCH's
        ``remainingEntries``); 0 for a file."""

    def path_inodes(self, path: str) -> Deferred:
        """[Inode] along ``path`` from the root, the last None when the final name is free (the permission
        checks read every ancestor). FileNotFound when an ancestor is missing, NotADirectory through a file."""

    def content_summary(self, path: str, checker=None) -> Deferred:
        """A ContentSummary of everything at or below ``path``."""

    def walk_files(self, path: str = "/") -> Deferred:
        """[(path, Inode, [Extent])] of every file at or below ``path``, in path order (fsck)."""

    def count_files(self) -> Deferred:
        """The number of files."""

    def disk_usage(self) -> int:
        """Bytes the store takes on disk (not a Deferred: a status page reads it)."""

    # -- writes -----------------------------------------------------------------------------------

    def check_create(self, path: str, overwrite: bool, create_parent: bool = True, checker=None) -> Deferred:
        """Fail early, before any byte of an upload moves, when ``create`` could not commit."""

    def create(self, path: str, extents: list, overwrite: bool, replication: Optional[int] = None,
               block_size: Optional[int] = None, mode: int = 0o644, owner: Optional[str] = None,
               group: Optional[str] = None, create_parent: bool = True, mtime: Optional[int] = None,
               atime: Optional[int] = None, checker=None, unmasked: Optional[int] = None) -> Deferred:
        """Commit an upload: point ``path`` at ``extents`` (an overwrite replaces the file atomically, keeping its
        inode); the Inode. ``mtime``/``atime`` replace the times the write would set (a copy keeps its times).
        Without a ``group``, a new file and the directories made for it take their parent's group (HDFS). A new
        file and each new directory inherit their parent's default ACL (``unmasked``: the file's mode before the
        client's umask, which HDFS filters by that ACL instead of ``mode``)."""

    def file_for_append(self, path: str, checker=None) -> Deferred:
        """The Inode of a file APPEND may extend (fails early, before any byte moves)."""

    def append(self, path: str, extents: list, checker=None) -> Deferred:
        """Add ``extents`` after whatever the file holds when this commits; the Inode."""

    def concat(self, target: str, sources: list, checker=None) -> Deferred:
        """Move the extents of each source file, in order, to the end of ``target``; the sources are deleted."""

    def truncate(self, path: str, new_length: int, checker=None) -> Deferred:
        """Shorten a file to ``new_length`` bytes (its last extent cut, no byte copied)."""

    def mkdirs(self, path: str, mode: int = 0o755, owner: Optional[str] = None,
               group: Optional[str] = None, checker=None, unmasked: Optional[int] = None) -> Deferred:
        """Create the directory ``path`` and its missing ancestors (without a ``group``, each takes its parent's;
        each inherits its parent's default ACL as ``create`` says); the directory's Inode."""

    def rename(self, src: str, dst: str, overwrite: bool = False, checker=None) -> Deferred:
        """HDFS's two renames (without ``overwrite``: into a directory ``dst``, False on any refusal; with it:
        exactly onto ``dst``, replacing a file or an empty directory, refusals raised). Inodes keep their ids.
        Onto another hard link of the same inode it does nothing, and says True (POSIX)."""

    def link(self, existing: str, new: str, checker=None) -> Deferred:
        """A hard link: the new entry ``new`` (its parent must exist) names the inode of ``existing``, whose link
        count grows; a directory is refused (IsADirectory). The Inode."""

    def symlink(self, target: str, path: str, create_parent: bool = True, owner: Optional[str] = None,
                group: Optional[str] = None, checker=None) -> Deferred:
        """A symlink at the free ``path`` holding ``target`` (any text: nothing resolves it here). The Inode."""

    def mknod(self, path: str, kind: str, mode: int, rdev: int = 0, owner: Optional[str] = None,
              group: Optional[str] = None, checker=None) -> Deferred:
        """A special file (``kind``: model.FIFO, SOCKET, CHAR_DEVICE, BLOCK_DEVICE, with its device number
        ``rdev``) at the free ``path``: metadata only. The Inode."""

    def copy(self, src: str, dst: str, overwrite: bool = False, owner=None, group=None, checker=None) -> Deferred:
        """Server-side copy: new inodes sharing the source's blocks; a directory copies recursively. The copies
        belong to ``owner`` (the caller; None: the source's owners, as a superuser's `cp -p`), in ``group`` or the
        group of the directory they land in, as a new file does."""

    def delete(self, path: str, recursive: bool, checker=None, directory=False) -> Deferred:
        """Remove the entry ``path`` (and, with ``recursive``, what is below it); False when there was nothing. An
        inode goes with its last entry: until then its extents, and so its blocks, stay referenced. ``directory``
        (rmdir): NotADirectory when ``path`` is not one, in the same transaction."""

    def set_times(self, path: str, mtime: Optional[int] = None, atime: Optional[int] = None,
                  checker=None) -> Deferred:
        """Set the times given (None keeps one); the Inode as changed."""

    def set_permission(self, path: str, mode: int, checker=None) -> Deferred:
        """Set the permission bits; the Inode as changed."""

    def set_owner(self, path: str, owner: Optional[str] = None, group: Optional[str] = None,
                  checker=None) -> Deferred:
        """Set the owner and/or the group (None keeps one); the Inode as changed."""

    def set_replication(self, path: str, replication: int, checker=None) -> Deferred:
        """Set a file's wanted replication: True; False for a directory."""

    def xattrs(self, path: str, checker=None, op: str = "GETXATTRS") -> Deferred:
        """{name: value bytes} of the extended attributes of ``path``'s inode, by name; ``op`` is what the checker
        judges (GETXATTRS reads values, LISTXATTRS only names). ``trusted.`` ones are left out for a caller the
        checker checks (not a superuser), as HDFS hides them."""

    def set_xattr(self, path: str, name: str, value: bytes, create: bool, replace: bool, checker=None) -> Deferred:
        """Set an extended attribute (``name`` with its namespace prefix) of ``path``'s inode: a new one only with
        ``create``, an existing one only with ``replace``, at most model.MAX_XATTRS per inode (HDFS's IOException
        texts). Attributes belong to the inode: removed with it, copied by ``copy``."""

    def remove_xattr(self, path: str, name: str, checker=None) -> Deferred:
        """Remove an extended attribute; IOFailure when the inode has none of that name."""

    def change_acl(self, path: str, op: str, spec: list = (), checker=None) -> Deferred:
        """Change the ACL of ``path``'s inode as WebHDFS ``op`` does (SETACL, MODIFYACLENTRIES, REMOVEACLENTRIES
        with the acls.Entry list ``spec``; REMOVEDEFAULTACL, REMOVEACL), only by its owner (or a superuser), in
        HDFS's rules (dfs.namenode.acls, AclException); the Inode as changed (its mode and ``acl``). The ACL
        belongs to the inode: every hard link shares it, ``copy`` copies it."""

    def check_access(self, path: str, access: int, checker=None, op: str = "CHECKACCESS") -> Deferred:
        """CHECKACCESS: AccessControlException unless ``checker``'s caller has ``access`` (permissions' bits) on
        ``path``, ACLs included; FileNotFound("Path not found") when nothing is there. With another ``op`` (and
        ``access`` 0), the check of that WebHDFS op's rules alone, for ops with nothing to change in the namespace
        (SETSTORAGEPOLICY of the one policy there is)."""

    def check_quota(self, path: str, space: int, append: bool = False) -> Deferred:
        """Fail early, before any byte of an upload moves, when a file of ``space`` bytes (replicas counted)
        created at ``path`` (replacing a file there), or with ``append`` added to it, would pass a quota."""

    def set_quota(self, path: str, names: Optional[int] = None, space: Optional[int] = None,
                  checker=None, disk: Optional[int] = None) -> Deferred:
        """Set the directory ``path``'s name quota (files and directories at or below it, itself counted) and/or
        space quota (bytes of its files, replicas counted); None keeps one, -1 removes it. Every change that
        grows a directory past a quota fails in its own transaction (NSQuotaExceeded, DSQuotaExceeded);
        ``content_summary`` reports them. ``disk`` is the quota by storage type DISK: every block is on DISK, so
        it counts what the space quota counts (QuotaByStorageTypeExceeded)."""

    def format(self) -> Deferred:
        """Wipe the namespace (the original DFS's mkfs); the cluster id stays."""

    # -- the past (namespace.history) -----------------------------------------------------------

    def past_stat(self, path: str, at: Optional[int] = None, checker=None) -> Deferred:
        """``stat`` of ``path`` under a snapshot (``<dir>/.snapshot/<name>/...``), else as it was at ``at`` (ms,
        inside the retention window: IOFailure outside). Checked as OPEN on the inodes as they were then."""

    def past_status(self, path: str, at: Optional[int] = None, checker=None) -> Deferred:
        """``status`` in the past, as ``past_stat`` reads it."""

    def past_listing(self, path: str, at: Optional[int] = None, checker=None) -> Deferred:
        """``listing`` (all entries) in the past, as ``past_stat`` reads it."""

    def past_content_summary(self, path: str, at: Optional[int] = None, checker=None) -> Deferred:
        """``content_summary`` in the past, as ``past_stat`` reads it."""

    def past_xattrs(self, path: str, at: Optional[int] = None, checker=None, op: str = "GETXATTRS") -> Deferred:
        """``xattrs`` in the past, as ``past_stat`` reads it."""

    def restore(self, path: str, at: Optional[int], destination: Optional[str] = None, checker=None) -> Deferred:
        """Make ``path`` as it was (``past_stat``'s reading) again at ``destination`` (default: ``path``), sharing
        its blocks; a file there gets the old content, keeping its inode; a directory there: AlreadyExists."""

    def recall(self, op: str, checker=None) -> Deferred:
        """The answer the change ``op`` of ``checker``'s client operation got, or namespace.retries.FORGOTTEN (none
        stored, or the request names no operation): an upload's retry is answered before its bytes are stored."""

    def trim_retries(self, before: float) -> Deferred:
        """Drop the retry cache's answers stored before ``before`` (seconds since the epoch); how many."""

    def trim_history(self) -> Deferred:
        """Drop history no read can see any more; the number of rows dropped."""

    def hold_for_backup(self, name: str) -> Deferred:
        """Keep every row alive from this commit on for the backup ``name`` being taken (dfs.namenode.backup)."""

    def set_backup_holds(self, holds: dict) -> Deferred:
        """Make ``holds`` ({backup name: [(since commit, upto commit)]}) those backups' holds: GC keeps every block a
        history row alive at a commit of a hold names."""

    def release_backups(self, names) -> Deferred:
        """Drop the holds of the backups ``names``."""

    def backup_holds(self) -> Deferred:
        """{backup name: [(since, upto)]} of every hold."""

    def allow_snapshot(self, path: str, checker=None) -> Deferred:
        """Let the directory ``path`` have snapshots (the superuser's)."""

    def disallow_snapshot(self, path: str, checker=None) -> Deferred:
        """The reverse; SnapshotException while it has snapshots."""

    def create_snapshot(self, path: str, name: Optional[str] = None, checker=None) -> Deferred:
        """Snapshot the snapshottable directory ``path`` (its owner's), in O(1): the snapshot's path."""

    def delete_snapshot(self, path: str, name: str, checker=None) -> Deferred:
        """Delete a snapshot: what only it held becomes GC's."""

    def rename_snapshot(self, path: str, old: str, new: str, checker=None) -> Deferred:
        """Rename a snapshot."""

    def snapshots(self, path: str, checker=None) -> Deferred:
        """[model.Snapshot] of the directory ``path``, oldest first."""

    def snapshottable_directories(self, checker=None) -> Deferred:
        """[(path, Status, number of snapshots)] of the snapshottable directories the caller owns (all for a
        superuser or no checker)."""

    def snapshot_diff(self, path: str, old: str, new: str, checker=None) -> Deferred:
        """[(type, path, target)] from snapshot ``old`` to ``new`` of ``path`` (empty: the present), HDFS's
        CREATE, DELETE, MODIFY, RENAME, paths relative to ``path``."""

    def snapshot_diff_listing(self, path: str, old: str, new: str, start: int = 0, checker=None) -> Deferred:
        """One page of ``snapshot_diff`` in HDFS's paged form: ([history.ListingEntry] from the ``start``-th on, the
        next page's start or None)."""

    # -- blocks, pins, garbage --------------------------------------------------------------------

    def block_targets(self) -> Deferred:
        """{block id: its target, ``model.block_target(wanted replication, size)``} of every block a file refers to
        (repair)."""

    def collectable(self, block_ids: list, now: float, epoch: Optional[int] = None) -> Deferred:
        """{id: when it became unreferenced} for those of ``block_ids`` no file refers to and no live pin holds;
        None for a block no file ever referred to (an upload that never committed). With ``epoch`` (the caller's
        lease of background work), NotLeader when the lease is at another epoch."""

    def forget_unreferenced_blocks(self, now: float = 0, epoch: Optional[int] = None) -> Deferred:
        """Drop the records of blocks no file refers to and no pin live at ``now`` holds; how many. ``epoch`` as
        for ``collectable``."""

    def claim_leadership(self, holder: str, lease: float) -> Deferred:
        """Take or renew ``holder``'s lease of background work for ``lease`` seconds: its epoch (one more than the
        last holder's when the lease changes hands), or None while another holder's lease runs. With one namenode
        (SQLite) the caller always gets it."""

    def pin(self, block_id: str, owner: str, expires: float) -> Deferred:
        """Keep ``block_id`` from GC until ``expires`` (an upload in flight may still commit it)."""

    def unpin(self, block_ids: list, owner: str) -> Deferred:
        """Release ``owner``'s pins of ``block_ids``."""

    def renew_pins(self, owner: str, expires: float, now: float) -> Deferred:
        """Extend ``owner``'s pins to ``expires``; drop every owner's pins that expired before ``now``."""

    # -- the cluster ------------------------------------------------------------------------------

    def known_datanodes(self) -> Deferred:
        """{id: URL} of every datanode that ever registered (safe mode waits for them after a restart)."""

    def remember_datanode(self, node_id: str, url: str) -> Deferred:
        """Record a datanode that registered."""

    def forget_datanode(self, node_id: str) -> Deferred:
        """Forget a decommissioned datanode."""

    def maintenance_windows(self) -> Deferred:
        """{datanode id: until when (seconds since the epoch)} of the maintenance windows set, ended ones too."""

    def set_maintenance(self, node_id: str, until: Optional[float]) -> Deferred:
        """Put a datanode in maintenance until ``until``, or end its window (None)."""

    # -- checks -----------------------------------------------------------------------------------

    def namespace_problems(self) -> Deferred:
        """[Problem] breaking "the namespace is a tree" (fsck): inodes no path reaches (orphans, pieces under a
        file, cycles), entries naming a missing inode, link counts that differ from the entries; empty when
        healthy."""

    def integrity_check(self) -> Deferred:
        """The store's own consistency check: "ok" when sound."""
