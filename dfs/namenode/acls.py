"""POSIX ACLs as HDFS keeps them (AclEntry, AclTransformation, AclStorage): an aclspec's entries, the changes the
five WebHDFS ACL operations make, the mode and stored entries they leave, and the ACL a new child inherits from its
parent's default ACL. Pure: the namespace stores what these return, the permission checker reads it.

As in HDFS, an inode's mode holds three of its ACL's entries (owner, other, and in the group bits the mask, or the
owning group when there is no mask) and the inode stores the rest: the named users, the owning group and the named
groups of an extended access ACL, then every default entry. That stored text is None for a minimal ACL."""

from functools import lru_cache
from typing import NamedTuple, Optional

from dfs.errors import AclException, BadRequest

USER, GROUP, MASK, OTHER = "user", "group", "mask", "other"
TYPES = (USER, GROUP, MASK, OTHER)
SYMBOLS = ("---", "--x", "-w-", "-wx", "r--", "r-x", "rw-", "rwx")
MAX_ENTRIES = 32  # HDFS's AclTransformation.MAX_ENTRIES, per scope
STICKY = 0o1000


class Entry(NamedTuple):
    """One ACL entry: ``default`` scope or access, a type of TYPES, a ``name`` (None: the owner, owning group, mask
    or other) and ``perm`` bits (None in a REMOVEACLENTRIES spec)."""

    default: bool
    type: str
    name: Optional[str] = None
    perm: Optional[int] = None

    @property
    def key(self):
        """HDFS's order and identity of entries: access before default, user, group, mask, other, unnamed first."""
        return self.default, TYPES.index(self.type), self.name is not None, self.name or ""

    def __str__(self):
        """AclEntry.toStringStable: ``default:user:bob:rw-``."""
        text = ("default:" if self.default else "") + f"{self.type}:{self.name or ''}:"
        return text + ("" if self.perm is None else SYMBOLS[self.perm])


def parse_entry(text, with_perm):
    """One entry of an aclspec, with AclEntry.parseAclEntry's rules and messages (400 on a bad one)."""
    parts = text.split(":")
    while parts and not parts[-1]:  # Java's split drops trailing empty strings: "user:bob:" is two parts
        parts.pop()
    default = bool(parts) and parts[0] == "default"
    parts = parts[1:] if default else parts
    if not parts:
        raise BadRequest(f"Invalid <aclSpec> : {text}")
    if parts[0].lower() not in TYPES:
        raise BadRequest(f"Invalid type of acl in <aclSpec> :{text}")
    kind, name, perm = parts[0].lower(), parts[1] if len(parts) > 1 and parts[1] else None, None
    rest = parts[2:]
    if with_perm:
        if not rest:
            raise BadRequest(f"Invalid <aclSpec> : {text}")
        if rest[0] not in SYMBOLS:
            raise BadRequest(f"Invalid permission in <aclSpec> : {text}")
        perm, rest = SYMBOLS.index(rest[0]), rest[1:]
    if rest:
        raise BadRequest(f"Invalid <aclSpec> : {text}")
    return Entry(default, kind, name, perm)


def parse_spec(text, with_perm=True):
    """WebHDFS's ``aclspec``: entries separated by commas (empty ones skipped, as StringTokenizer does)."""
    return [parse_entry(item, with_perm) for item in text.split(",") if item]


@lru_cache(maxsize=4096)
def stored_entries(text) -> tuple:
    """The entries an inode stores (its ``acl`` text), in order; none for None."""
    return tuple(parse_entry(item, True) for item in text.split(",")) if text else ()


def has_access_entries(text):
    """Whether the inode's stored entries make its access ACL extended (then the checker reads them)."""
    entries = stored_entries(text)
    return bool(entries) and not entries[0].default


def status_entries(text):
    """GETACLSTATUS's ``entries``: the stored ones, as HDFS lists them (the mode's three are not repeated)."""
    return [str(entry) for entry in stored_entries(text)]


def _mode_entries(mode, default=False, middle=GROUP):
    return [Entry(default, USER, None, mode >> 6 & 7), Entry(default, middle, None, mode >> 3 & 7),
            Entry(default, OTHER, None, mode & 7)]


def logical(mode, text):
    """The whole ACL of an inode (AclStorage.readINodeLogicalAcl), sorted: the mode's entries with the stored ones."""
    stored = stored_entries(text)
    access = [e for e in stored if not e.default]
    acl = _mode_entries(mode) if not access else [
        Entry(False, USER, None, mode >> 6 & 7), *access, Entry(False, MASK, None, mode >> 3 & 7),
        Entry(False, OTHER, None, mode & 7)]
    return acl + [e for e in stored if e.default]


def _check_max(entries):
    access = sum(not e.default for e in entries)
    defaults = len(entries) - access
    if access > MAX_ENTRIES:
        raise AclException(f"Invalid ACL: ACL has {access} access entries, which exceeds maximum of {MAX_ENTRIES}.")
    if defaults > MAX_ENTRIES:
        raise AclException(f"Invalid default ACL: ACL has {defaults} default entries, which exceeds maximum of"
                           f" {MAX_ENTRIES}.")


def _copy_defaults(entries):
    """A default ACL missing its owner, group or other entry takes it from the access ACL (copyDefaultsIfNeeded)."""
    keys = {e.key for e in entries}
    if not any(e.default for e in entries):
        return entries
    copied = [Entry(True, e.type, None, e.perm) for e in entries
              if not e.default and e.name is None and e.type != MASK and Entry(True, e.type).key not in keys]
    return entries + copied


def _with_masks(entries, provided, mask_dirty, scope_dirty):
    """Add each scope's mask (calculateMasks): the one given, the one kept in an unchanged scope, or the union of
    the group class when named entries need one or the ACL had one."""
    union, needed = {}, set()
    for e in entries:
        if e.type == GROUP or e.name is not None:
            union[e.default] = union.get(e.default, 0) | e.perm
        if e.name is not None:
            needed.add(e.default)
    for scope in sorted({e.default for e in entries}):
        if scope not in provided and scope in needed and scope in mask_dirty:
            raise AclException("Invalid ACL: mask is required and cannot be deleted.")
        if scope in provided and (scope not in scope_dirty or scope in mask_dirty):
            entries.append(provided[scope])
        elif scope in needed or scope in provided:
            entries.append(Entry(scope, MASK, None, union.get(scope, 0)))
    return entries


def _built(entries):
    """The sorted, validated ACL (buildAndValidateAcl)."""
    entries = sorted(entries, key=lambda e: e.key)
    for before, entry in zip([None, *entries], entries):
        if before is not None and before.key == entry.key:
            raise AclException("Invalid ACL: multiple entries with same scope, type and name.")
        if entry.name is not None and entry.type in (MASK, OTHER):
            raise AclException(f"Invalid ACL: this entry type must not have a name: {entry}.")
    _check_max(entries)
    keys = {e.key for e in entries}
    has_default = any(e.default for e in entries)
    for kind in (USER, GROUP, OTHER):
        if Entry(False, kind).key not in keys:
            raise AclException("Invalid ACL: the user, group and other entries are required.")
        if has_default and Entry(True, kind).key not in keys:
            raise AclException("Invalid default ACL: the user, group and other entries are required.")
    return entries


def _transform(existing, spec, op):
    """MODIFYACLENTRIES (mergeAclEntries), REMOVEACLENTRIES (filterAclEntriesByAclSpec) or SETACL
    (replaceAclEntries) of ``spec`` on the logical ACL ``existing``."""
    spec = sorted(spec, key=lambda e: e.key)
    _check_max(spec)
    wanted = {e.key: e for e in spec}
    kept, provided, mask_dirty, scope_dirty = [], {}, set(), set()

    def keep(entry, dirty=False):
        if dirty:
            scope_dirty.add(entry.default)
            if entry.type == MASK:
                mask_dirty.add(entry.default)
        if entry.type == MASK:
            provided[entry.default] = entry
        else:
            kept.append(entry)

    if op == "SETACL":
        for entry in spec:
            keep(entry, dirty=True)
        for entry in existing:
            if entry.default not in scope_dirty:
                keep(entry)
    else:
        found = set()
        for entry in existing:
            given = wanted.get(entry.key)
            if given is None:
                keep(entry)
            elif op == "MODIFYACLENTRIES":
                found.add(given.key)
                keep(given, dirty=True)
            else:
                scope_dirty.add(entry.default)
                if entry.type == MASK:
                    mask_dirty.add(entry.default)
        if op == "MODIFYACLENTRIES":
            for entry in spec:  # the spec's entries that replaced nothing are new
                if entry.key not in found:
                    keep(entry, dirty=True)
    kept = _copy_defaults(sorted(kept, key=lambda e: e.key))
    return _built(_with_masks(kept, provided, mask_dirty, scope_dirty))


def _stored(acl, mode, directory, path=""):
    """(mode, stored text) that hold the whole ACL ``acl`` (AclStorage.updateINodeAcl); the sticky bit is kept."""
    sticky = mode & STICKY
    access = [e for e in acl if not e.default]
    defaults = [e for e in acl if e.default]
    if len(acl) == 3:  # minimal: the mode is the whole ACL
        return sticky | acl[0].perm << 6 | acl[1].perm << 3 | acl[2].perm, None
    if defaults and not directory:
        raise AclException(f"Invalid ACL: only directories may have a default ACL. Path: {path}")
    named = access[1:-2] if len(access) > 3 else []
    mode = sticky | access[0].perm << 6 | access[-2].perm << 3 | access[-1].perm
    return mode, ",".join(str(e) for e in named + defaults)


def change(op, mode, text, directory, spec=(), path=""):
    """(new mode, new stored text) after WebHDFS ``op`` (SETACL, MODIFYACLENTRIES, REMOVEACLENTRIES,
    REMOVEDEFAULTACL, REMOVEACL) with ``spec`` on an inode of ``mode`` storing ``text``. AclException as HDFS."""
    if op == "REMOVEACL":
        if not has_access_entries(text):
            return mode, None
        group = next(e.perm for e in stored_entries(text) if e.type == GROUP and e.name is None)
        return mode & ~0o70 | group << 3, None  # the owning group's entry replaces the mask
    existing = logical(mode, text)
    if op == "REMOVEDEFAULTACL":
        acl = _built([e for e in existing if not e.default])
    else:
        acl = _transform(existing, list(spec), op)
    return _stored(acl, mode, directory, path)


def inherit(parent_text, mode, unmasked, directory):
    """(mode, stored text) of a new file or directory created with ``mode`` (``unmasked``: the mode before the
    client's umask, when it sent one) under a parent storing ``parent_text``: HDFS's copyINodeDefaultAcl with POSIX
    inheritance. Without a default ACL on the parent: ``mode`` and no ACL."""
    defaults = [e for e in stored_entries(parent_text) if e.default]
    if not defaults:
        return mode, None
    if unmasked is not None:
        mode = unmasked
    minimal = len(defaults) == 3
    masks = {USER: mode >> 6 & 7, MASK: mode >> 3 & 7, OTHER: mode & 7}
    access = []
    for e in defaults:
        perm = e.perm
        if e.name is None and e.type in masks:
            perm &= masks[e.type]
        elif e.type == GROUP and minimal:
            perm &= mode >> 3 & 7
        access.append(Entry(False, e.type, e.name, perm))
    inherited = access + (defaults if directory else [])
    if len(inherited) == 3:
        return mode & STICKY | access[0].perm << 6 | access[1].perm << 3 | access[2].perm, None
    return _stored(inherited, mode, directory)
