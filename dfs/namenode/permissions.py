"""HDFS's permission model over the namespace's Inodes: who the caller is, and one decision per kind of operation,
as HDFS's FSPermissionChecker takes them, with its exact denial texts. Pure: the caller resolves the paths."""

from dataclasses import dataclass
from typing import Callable, Iterable, NamedTuple, Optional

from dfs import paths
from dfs.errors import AccessControlException, NotADirectory
from dfs.namenode import acls
from dfs.namenode.namespace.model import Inode

# Access bits, as in a mode's owner/group/other triplets. A denial names them as HDFS's FsAction does.
NONE, EXECUTE, WRITE, READ = 0, 1, 2, 4
WRITE_EXECUTE, READ_EXECUTE, READ_WRITE, ALL = 3, 5, 6, 7
ACTION_NAMES = ("NONE", "EXECUTE", "WRITE", "WRITE_EXECUTE", "READ", "READ_EXECUTE", "READ_WRITE", "ALL")
STICKY = 0o1000
SETID = 0o6000  # setuid and setgid
DEFAULT_SUPERGROUP = "supergroup"  # HDFS's dfs.permissions.superusergroup default


def mode_string(mode):
    """The nine characters HDFS prints for a mode (FsPermission): ``rwxr-xr-x``, the sticky bit as ``t`` (``T``
    when others may not execute) in the last place. Setuid and setgid bits are not shown, as in HDFS."""
    text = "".join(("r" if mode & (READ << shift) else "-") + ("w" if mode & (WRITE << shift) else "-")
                   + ("x" if mode & (EXECUTE << shift) else "-") for shift in (6, 3, 0))
    if mode & STICKY:
        text = text[:-1] + ("t" if mode & EXECUTE else "T")
    return text


def describe(path, inode):
    """``"/p":owner:group:drwx------``, how HDFS names an inode in a denial."""
    kind = "d" if inode.is_directory else "-"
    return f'"{path}":{inode.owner}:{inode.group}:{kind}{mode_string(inode.mode)}'


@dataclass(frozen=True, slots=True)
class Caller:
    """Who a request acts for (HDFS's UGI): a user, the groups the mapping gives them, and whether they are a
    superuser (the namenode's own user, or a member of the supergroup), who passes every check."""

    user: str
    groups: frozenset = frozenset()
    superuser: bool = False

    @classmethod
    def of(cls, user, groups, superuser_name, supergroup=DEFAULT_SUPERGROUP):
        groups = frozenset(groups)
        return cls(user, groups, user == superuser_name or supergroup in groups)


class Permissions:
    """The namenode's settings: ``enabled`` (``--permissions``), the superuser's name (``--superuser``: the
    namenode's own user) and the supergroup (``--supergroup``), and the group mapping (dfs.namenode.groups), whose
    look-up may block: build checkers off the reactor."""

    def __init__(self, groups, superuser, supergroup=DEFAULT_SUPERGROUP, enabled=True):
        self.groups = groups
        self.superuser = superuser
        self.supergroup = supergroup
        self.enabled = enabled

    def caller(self, user) -> Caller:
        return Caller.of(user, self.groups.groups(user), self.superuser, self.supergroup)

    def checker(self, user) -> "Checker":
        """The checks for a request acting for ``user``; with checking off, no group is looked up."""
        return Checker(self.caller(user) if self.enabled else Caller(user), self.enabled)

    def checker_at_once(self, user) -> Optional["Checker"]:
        """``checker(user)`` when it needs no look-up that may block (checking off, the superuser by name, groups
        cached), else None: the reactor builds these, and sends the others to a thread."""
        if not self.enabled:
            return self.checker(user)
        if user == self.superuser:
            return Checker(Caller(user, superuser=True))
        groups = self.groups.cached(user)
        if groups is None:
            return None
        return Checker(Caller.of(user, groups, self.superuser, self.supergroup))


class Rule(NamedTuple):
    """What one path of an operation needs, in the terms of FSPermissionChecker.checkPermission. Execute on every
    existing ancestor (traverse) is always checked. ``ancestor``: access on the nearest existing ancestor (for
    operations that may create the missing directories on the way), only when the final name is free if
    ``when_free``; ``parent``: on the parent, with the sticky-bit rule when it includes WRITE and the entry exists;
    ``access``: on the inode itself (``directories_only``: only when it is a directory, as LISTSTATUS of a file
    needs no read); ``subtree``: on the inode and every directory below (``skip_empty``: empty directories
    excepted), the sticky-bit rule applied inside; ``owner``: the caller owns the inode; ``or_owner``: the owner
    passes the ``access`` check whatever the mode."""

    ancestor: int = NONE
    when_free: bool = False
    parent: int = NONE
    access: int = NONE
    directories_only: bool = False
    subtree: int = NONE
    skip_empty: bool = False
    owner: bool = False
    or_owner: bool = False


TRAVERSE = Rule()


class Operation(NamedTuple):
    """A WebHDFS operation's checks, each a sequence of Rules taken in order: on the path, on the second path of
    RENAME and COPY (``destination``), on each source of CONCAT (``sources``); ``overwrite`` first, on a file
    that a CREATE or COPY with overwrite replaces. ``audit`` is the command HDFS's audit log names it by (None:
    not audited)."""

    audit: Optional[str]
    path: tuple = (TRAVERSE,)
    destination: tuple = ()
    sources: tuple = ()
    overwrite: Optional[Rule] = None


def rules(**kwargs):
    return (Rule(**kwargs),)


# Every WebHDFS operation the namenode serves, with HDFS's checks in HDFS's order (FSDir*Op). HDFS asks write on
# the nearest existing ancestor of a RENAME's destination, which is its parent whenever the rename can succeed; dfs
# asks it of the parent as a parent, so the sticky-bit rule also protects an entry that a rename replaces (POSIX
# does; HDFS does not).
OPERATIONS = {
    "GETFILESTATUS": Operation("getfileinfo"),
    "GETFILELINKSTATUS": Operation("getfileinfo"),
    "GETLINKTARGET": Operation("getfileinfo"),
    "LISTSTATUS": Operation("listStatus", rules(access=READ_EXECUTE, directories_only=True)),
    "LISTSTATUS_BATCH": Operation("listStatus", rules(access=READ_EXECUTE, directories_only=True)),
    "GETCONTENTSUMMARY": Operation("contentSummary", rules(subtree=READ_EXECUTE)),
    "GETFILECHECKSUM": Operation("open", rules(access=READ)),
    "GETFILEBLOCKLOCATIONS": Operation("open", rules(access=READ)),
    "GETHOMEDIRECTORY": Operation(None),
    "OPEN": Operation("open", rules(access=READ)),
    "CREATE": Operation("create", rules(ancestor=WRITE), overwrite=Rule(access=WRITE)),
    "MKDIRS": Operation("mkdirs", rules(ancestor=WRITE, when_free=True)),
    "CREATESYMLINK": Operation("createSymlink", rules(ancestor=WRITE)),
    "APPEND": Operation("append", rules(access=WRITE)),
    "TRUNCATE": Operation("truncate", rules(access=WRITE)),
    "CONCAT": Operation("concat", rules(access=WRITE), sources=(Rule(access=READ), Rule(parent=WRITE))),
    "RENAME": Operation("rename", rules(parent=WRITE), destination=rules(parent=WRITE)),
    "COPY": Operation("copy", rules(access=READ), destination=rules(ancestor=WRITE), overwrite=Rule(access=WRITE)),
    "DELETE": Operation("delete", rules(parent=WRITE, subtree=ALL, skip_empty=True)),
    "SETPERMISSION": Operation("setPermission", rules(owner=True)),
    "SETOWNER": Operation("setOwner", rules(owner=True)),
    # HDFS asks write of everyone; POSIX (utimensat) lets the owner set the times of a file they may not write, and
    # the owner could give themselves write anyway.
    "SETTIMES": Operation("setTimes", rules(access=WRITE, or_owner=True)),
    "SETREPLICATION": Operation("setReplication", rules(access=WRITE)),
    # Answered without the namespace (or, for the storage policy, by traversal alone) as in HDFS; setting a storage
    # policy asks write access of the path (FSDirAttrOp), quota usage what the content summary asks.
    "GETSERVERDEFAULTS": Operation(None),
    "GETSTATUS": Operation(None),
    "GETQUOTAUSAGE": Operation("quotaUsage", rules(subtree=READ_EXECUTE)),
    "GETSTORAGEPOLICY": Operation("getStoragePolicy"),
    "GETALLSTORAGEPOLICY": Operation(None),
    "SETSTORAGEPOLICY": Operation("setStoragePolicy", rules(access=WRITE)),
    "UNSETSTORAGEPOLICY": Operation("unsetStoragePolicy", rules(access=WRITE)),
    "GETTRASHROOT": Operation(None),
    "GETTRASHROOTS": Operation(None),
    # dfs's extension: the namenode expunges the caller's own trash (/user/<caller>/.Trash, named by the request's
    # user, never by a path it sends), as `hadoop fs -expunge` would with the caller's rights there.
    "EXPUNGE": Operation("expunge"),
    # dfs extensions for the mount, checked as POSIX link(2) and mknod(2) are: write on the new entry's parent.
    "LINK": Operation("link", destination=rules(parent=WRITE)),
    "MKNOD": Operation("mknod", rules(parent=WRITE)),
    # dfs's extension for the mount's write-back: each file it carries is checked and audited as its own CREATE.
    "CREATEBATCH": Operation(None),
    # HDFS lets only a superuser set quotas (FSNamesystem.setQuota: Checker.check_superuser).
    "SETQUOTA": Operation("setQuota"),
    "SETQUOTABYSTORAGETYPE": Operation("setQuota"),
    # Extended attributes (FSDirXAttrOp): reading values needs read access, listing names only the traversal
    # (execute on the parent), changing them write access.
    "GETXATTRS": Operation("getXAttrs", rules(access=READ)),
    "LISTXATTRS": Operation("listXAttrs"),
    "SETXATTR": Operation("setXAttr", rules(access=WRITE)),
    "REMOVEXATTR": Operation("removeXAttr", rules(access=WRITE)),
    # ACLs (FSDirAclOp): reading one needs only the traversal, changing one that the caller owns the inode.
    "GETACLSTATUS": Operation("getAclStatus"),
    "SETACL": Operation("setAcl", rules(owner=True)),
    "MODIFYACLENTRIES": Operation("modifyAclEntries", rules(owner=True)),
    "REMOVEACLENTRIES": Operation("removeAclEntries", rules(owner=True)),
    "REMOVEDEFAULTACL": Operation("removeDefaultAcl", rules(owner=True)),
    "REMOVEACL": Operation("removeAcl", rules(owner=True)),
    # The traversal, then the access its fsaction names (``check_operation``'s ``access``).
    "CHECKACCESS": Operation("checkAccess"),
    # Snapshots (FSDirSnapshotOp): allowing them is the superuser's (Checker.check_superuser), making, deleting and
    # renaming one the directory's owner's; a diff and a list read the directory. The snapshottable directories
    # listed are the caller's own (a superuser's: all). Reads under .snapshot are checked as the same reads of the
    # path as it was then (namespace.history).
    "ALLOWSNAPSHOT": Operation("allowSnapshot"),
    "DISALLOWSNAPSHOT": Operation("disallowSnapshot"),
    "CREATESNAPSHOT": Operation("createSnapshot", rules(owner=True)),
    "DELETESNAPSHOT": Operation("deleteSnapshot", rules(owner=True)),
    "RENAMESNAPSHOT": Operation("renameSnapshot", rules(owner=True)),
    "GETSNAPSHOTDIFF": Operation("computeSnapshotDiff", rules(access=READ)),
    "GETSNAPSHOTDIFFLISTING": Operation("computeSnapshotDiff", rules(access=READ)),
    "GETSNAPSHOTLIST": Operation("ListSnapshot", rules(access=READ)),
    "GETSNAPSHOTTABLEDIRECTORYLIST": Operation("listSnapshottableDirectory"),
    # dfs's extension, `dfs restore`: the past read (as it was, by the caller now) as a copy reads its source, the
    # destination written as a CREATE's (a file replaced needs write on it).
    "RESTORE": Operation("restore", rules(access=READ, subtree=READ_EXECUTE), destination=rules(ancestor=WRITE),
                         overwrite=Rule(access=WRITE)),
}


# A SETPERMISSION that only clears a file's setuid or setgid bits: what the kernel sends after a write by a caller
# who may write but is not the owner (POSIX clears the bits on such a write), or for the owner's chown of a file
# they may not write. The owner, or what the write needs.
CLEARING_SETID = Operation("setPermission", rules(access=WRITE, or_owner=True))


def _only_clears_setid(inodes, path, mode):
    """Whether ``mode`` is the mode of the file at the end of ``inodes`` less some of its setuid and setgid bits."""
    inodes = list(inodes)
    target = inodes[-1] if len(inodes) == len(paths.split(path)) + 1 else None
    if target is None or target.is_directory:
        return False
    return mode != target.mode and mode & ~SETID == target.mode & ~SETID and mode & SETID & ~target.mode == 0


def prefix(names, count):
    """The path of the first ``count`` names (``/`` for none)."""
    return "/" + "/".join(names[:count])


class Checker:
    """One caller's permission checks (FSPermissionChecker). ``inodes`` is what the namespace's
    ``path_inodes(path)`` gives: the Inodes along the path from the root, None where a name is free. With
    ``enabled`` False (``--permissions off``) every check passes; a superuser passes every check too.
    ``children(inode)`` gives a directory's entries as ``(name, Inode)`` pairs, for the checks on a whole subtree.
    A checker is made per request, and carries the request's client ``operation`` id into the namespace's
    transaction (dfs.namenode.namespace.retries; None: the request has none)."""

    def __init__(self, caller: Caller, enabled: bool = True, operation=None):
        self.caller = caller
        self.enabled = enabled
        self.operation = operation

    @property
    def unchecked(self):
        return not self.enabled or self.caller.superuser

    def permits(self, inode: Inode, access: int) -> bool:
        """Whether the caller's class (owner, else group, else other) of ``inode``'s mode holds ``access``; with
        an extended ACL, as HDFS's hasAclPermission decides."""
        if acls.has_access_entries(inode.acl):
            return self._acl_permits(inode, access)
        if inode.owner == self.caller.user:
            granted = inode.mode >> 6
        elif inode.group in self.caller.groups:
            granted = inode.mode >> 3
        else:
            granted = inode.mode
        return granted & access == access

    def _acl_permits(self, inode, access):
        """The owner entry (the mode's owner bits), else the caller's named user entry, else every group entry
        (the owning group's and named ones) of a group of the caller, any that grants; each masked by the mode's
        group bits. Only a caller none of them matched is judged by the other entry."""
        if inode.owner == self.caller.user:
            return inode.mode >> 6 & access == access
        mask, matched = inode.mode >> 3 & 7, False
        for entry in acls.stored_entries(inode.acl):
            if entry.default:
                break
            if entry.type == acls.USER and entry.name == self.caller.user:
                return entry.perm & mask & access == access
            if entry.type == acls.GROUP and (entry.name or inode.group) in self.caller.groups:
                if entry.perm & mask & access == access:
                    return True
                matched = True
        return not matched and inode.mode & access == access

    def check_operation(self, op: str, path: str, inodes, *, destination=None, sources=(), overwrite=False,
                        children=None, owner=None, group=None, access=NONE, mode=None):
        """Every check of WebHDFS ``op``: ``destination`` is ``(path, inodes)`` for RENAME and COPY (the path the
        entry will have: inside the destination directory when a RENAME moves it there), ``sources`` a list of
        them for CONCAT; ``overwrite`` whether a CREATE or COPY replaces an existing file; ``owner`` and ``group``
        the new ones of SETOWNER; ``access`` the one CHECKACCESS asks about; ``mode`` the new one of SETPERMISSION.
        Raises AccessControlException with HDFS's text at the first denial."""
        if self.unchecked:
            return
        operation = OPERATIONS[op.upper()]
        if op.upper() == "SETPERMISSION" and mode is not None and _only_clears_setid(inodes, path, mode):
            operation = CLEARING_SETID
        path_rules, destination_rules = operation.path, operation.destination
        if overwrite and operation.overwrite is not None:
            # HDFS checks the file an operation overwrites before the directory that receives the new one.
            if destination_rules:
                destination_rules = (operation.overwrite, *destination_rules)
            else:
                path_rules = (operation.overwrite, *path_rules)
        if access:
            path_rules = (*path_rules, Rule(access=access))
        self._check_all(path, inodes, path_rules, children)
        if destination is not None:
            self._check_all(*destination, destination_rules, children)
        for source in sources:
            self._check_all(*source, operation.sources, children)
        if op.upper() == "SETOWNER":
            self.check_set_owner(owner, group)

    def _check_all(self, path, inodes, rules, children):
        for rule in rules:
            self.check(path, inodes, rule, children)

    def check(self, path: str, inodes, rule: Rule, children: Optional[Callable] = None):
        """One path's checks, in HDFS's order: traverse, sticky bit, ancestor, parent, the inode, the subtree,
        the owner."""
        if self.unchecked:
            return
        names = paths.split(path)
        inodes = list(inodes) + [None] * (len(names) + 1 - len(inodes))
        last = len(names)
        ancestor = last - 1
        while ancestor >= 0 and inodes[ancestor] is None:
            ancestor -= 1
        for i in range(ancestor + 1):
            if not inodes[i].is_directory:
                raise NotADirectory(f"{prefix(names, i)} (is not a directory)")
            self._require(prefix(names, i), inodes[i], EXECUTE)
        target = inodes[last]
        if last > 0 and rule.parent & WRITE and target is not None:
            self._check_sticky(prefix(names, last - 1), inodes[last - 1], path, target)
        if last > 0 and rule.ancestor and ancestor >= 0 and not (rule.when_free and target is not None):
            self._require(prefix(names, ancestor), inodes[ancestor], rule.ancestor)
        if last > 0 and rule.parent and inodes[last - 1] is not None:
            self._require(prefix(names, last - 1), inodes[last - 1], rule.parent)
        if (rule.access and target is not None and (target.is_directory or not rule.directories_only)
                and not (rule.or_owner and target.owner == self.caller.user)):
            self._require(path, target, rule.access)
        if rule.subtree and target is not None and target.is_directory:
            self._check_subtree(path, target, rule.subtree, rule.skip_empty, children)
        if rule.owner and target is not None and target.owner != self.caller.user:
            raise AccessControlException(f"Permission denied. user={self.caller.user} is not the owner of"
                                         f" inode={path}", path)

    def check_set_owner(self, owner: Optional[str], group: Optional[str]):
        """After the owner check: only a superuser gives a file away, and the owner sets only a group they are in."""
        if self.unchecked:
            return
        user = self.caller.user
        if owner is not None and owner != user:
            raise AccessControlException(f"User {user} is not a super user (non-super user cannot change owner).")
        if group is not None and group not in self.caller.groups:
            raise AccessControlException(f"User {user} does not belong to {group}")

    def check_superuser(self):
        if not self.unchecked:
            raise AccessControlException(f"Access denied for user {self.caller.user}."
                                         " Superuser privilege is required")

    def _require(self, path, inode, access):
        if not self.permits(inode, access):
            acl = "+" if acls.has_access_entries(inode.acl) else ""  # HDFS marks a denial its ACL decided
            raise AccessControlException(f"Permission denied: user={self.caller.user},"
                                         f" access={ACTION_NAMES[access]}, inode={describe(path, inode)}{acl}", path)

    def _sticky_violated(self, directory, entry):
        return bool(directory.mode & STICKY) and self.caller.user not in (directory.owner, entry.owner)

    def _check_sticky(self, directory_path, directory, path, entry):
        if directory is not None and self._sticky_violated(directory, entry):
            raise AccessControlException(f"Permission denied by sticky bit: user={self.caller.user},"
                                         f" path={describe(path, entry)}, parent={describe(directory_path, directory)}",
                                         path)

    def _check_subtree(self, path, top, access, skip_empty, children: Callable[[Inode], Iterable]):
        """``access`` on ``top`` and every directory below it; inside a sticky directory, only entries the caller
        or the directory's owner owns. Iterative, so a deep tree cannot exhaust the stack."""
        pending, seen = [(path, top)], set()
        while pending:
            directory_path, directory = pending.pop()
            if directory.id in seen:  # a cycle in a damaged namespace must not hold the writer forever
                continue
            seen.add(directory.id)
            entries = list(children(directory))
            if entries or not skip_empty:
                self._require(directory_path, directory, access)
                for name, entry in entries:
                    self._check_sticky(directory_path, directory, paths.join(directory_path, name), entry)
            pending.extend((paths.join(directory_path, name), entry) for name, entry in entries
                           if entry.is_directory)
