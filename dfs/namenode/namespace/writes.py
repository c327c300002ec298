"""The namespace's changes of the tree: make, write, append, concat, truncate, delete, rename, copy, link, and format.
Mixed into ``RelationalNamespace``."""

from collections import Counter

from twisted.internet.defer import fail

from dfs import paths
from dfs.errors import (AlreadyExists, BadRequest, CannotMove, DirectoryNotEmpty, FileNotFound, IOFailure,
                        IsADirectory, NotADirectory)
from dfs.extents import pieces
from dfs.namenode import acls
from dfs.namenode.namespace.entries import SETGID, SETUID, in_parent
from dfs.namenode.namespace.model import DIRECTORY, FILE, ROOT, SPECIAL, SYMLINK, Extent
from dfs.namenode.namespace.sql import now_ms


class Writes:
    """The interface's writes (namespace.interface) of the tree, each in one transaction (``_change``)."""

    def mkdirs(self, path, mode=0o755, owner=None, group=None, checker=None, unmasked=None):
        def txn(db):
            self._check(db, checker, "MKDIRS", path)
            try:
                existing = self._resolve(db, path)
            except (FileNotFound, NotADirectory):
                existing = None
            if existing is not None:
                if existing.type != DIRECTORY:
                    raise AlreadyExists(f"{path} already exists as a file")
                return existing  # nothing made: no quota to charge
            inode = self._mkdirs(db, path, mode, owner or self.defaults["owner"], group, unmasked)
            self._enforce_quotas(db, path, 1, 0)
            return inode

        return self._change("MKDIRS", checker, txn)

    def check_create(self, path, overwrite, create_parent=True, checker=None):
        def txn(db):
            walked = self._check(db, checker, "CREATE", path, replacing=path if overwrite else None)
            try:
                existing = self._lookup(db, path, walked)
            except FileNotFound:
                if not create_parent:
                    raise FileNotFound(f"Parent directory does not exist: {paths.parent(path)}") from None
                return None
            self._check_replaceable(existing, path, overwrite)
            return None

        return self.lookup(txn)

    @staticmethod
    def _check_replaceable(existing, path, overwrite):
        if existing is None:
            return
        if existing.type == DIRECTORY:
            raise AlreadyExists(f"{path} already exists as a directory")
        if not overwrite:
            raise AlreadyExists(f"{path} already exists")

    def create(self, path, extents, overwrite, replication=None, block_size=None, mode=0o644, owner=None,
               group=None, create_parent=True, mtime=None, atime=None, checker=None, unmasked=None):
        replication = replication or self.defaults["replication"]
        block_size = block_size or self.defaults["block_size"]
        owner = owner or self.defaults["owner"]

        def txn(db):
            walked = self._check(db, checker, "CREATE", path, replacing=path if overwrite else None)
            if path == "/":
                raise AlreadyExists("/ already exists as a directory")
            if create_parent:
                parent = self._mkdirs(db, paths.parent(path), 0o755, owner, group, walked=walked)
            else:
                parent = self._directory(db, paths.parent(path))
            name = paths.basename(path)
            depth = len(paths.split(path))
            if walked is not None and len(walked) >= depth:  # the check's walk reached the parent: it read the name
                existing = walked[depth] if len(walked) > depth else None
            else:
                existing = self._child(db, parent.id, name)
            self._check_replaceable(existing, path, overwrite)
            if existing is not None and existing.type != FILE:  # a symlink or special file: replaced by a file
                self._unlink(db, parent.id, name, existing)
                existing = None
            size = sum(e.length for e in extents)
            t = now_ms()
            accessed = t if atime is None else atime
            if existing is not None:  # every hard link of the file sees the new content (as open with O_TRUNC)
                inode_id = existing.id
                db.execute("DELETE FROM extents WHERE inode = ?", (inode_id,))
                db.execute(
                    f"UPDATE inodes SET size = ?, mtime = COALESCE(?, {self.GREATEST}(?, mtime + 1)), atime = ?,"
                    f" replication = ?, block_size = ?, ctime = {self.GREATEST}(?, ctime + 1) WHERE id = ?",
                    (size, mtime, t, accessed, replication, block_size, t, inode_id))
            else:
                file_mode, acl = acls.inherit(parent.acl, mode, unmasked, False)
                file_group, file_mode = in_parent(parent, group, file_mode, FILE)
                inode_id = self._new_inode(db, parent.id, name, FILE, size, file_mode, owner, file_group,
                                           t if mtime is None else mtime, accessed, replication, block_size,
                                           acl=acl).id
                self._touch(db, parent.id)
            self._set_extents(db, inode_id, extents)
            replaced = existing.size * existing.replication if existing is not None else 0
            self._enforce_quotas(db, path, 1 if existing is None else 0, size * replication - replaced)
            return self._inode(db, inode_id)

        return self._change("CREATE", checker, txn)

    def append(self, path, extents, checker=None):
        def txn(db):
            self._check(db, checker, "APPEND", path)
            inode = self._file(db, path)
            self._set_extents(db, inode.id, extents, self._next_seq(db, inode.id))
            added = sum(e.length for e in extents)
            db.execute("UPDATE inodes SET size = size + ? WHERE id = ?", (added, inode.id))
            self._touch(db, inode.id)
            self._written(db, inode.id, checker)
            self._enforce_quotas(db, path, 0, added * inode.replication)
            return self._inode(db, inode.id)

        return self._change("APPEND", checker, txn)

    def file_for_append(self, path, checker=None):
        def txn(db):
            self._check(db, checker, "APPEND", path)
            return self._file(db, path)

        return self.lookup(txn)

    def delete(self, path, recursive, checker=None, directory=False):
        def txn(db):
            if path == "/":
                raise IOFailure("Cannot delete the root directory")
            self._check(db, checker, "DELETE", path, children=self._lister(db))
            try:
                *_, parent, inode = self._path(db, path)
            except (FileNotFound, NotADirectory):
                return False
            if directory and inode.type != DIRECTORY:
                raise NotADirectory(f"Not a directory: {path}")
            if inode.type == DIRECTORY and not recursive and self._has_entries(db, inode.id):
                raise DirectoryNotEmpty(f"`{path} is non empty': Directory is not empty")
            self._keep_snapshot_roots(db, inode, path)
            self._unlink(db, parent.id, paths.basename(path), inode)
            self._touch(db, parent.id)
            return True

        return self._change("DELETE", checker, txn)

    def rename(self, src, dst, overwrite=False, checker=None):
        def txn(db):
            target = self._destination(db, src, dst, into=not overwrite)
            self._check(db, checker, "RENAME", src, destination=target)
            try:
                return self._rename(db, src, dst, target, overwrite)
            except (FileNotFound, AlreadyExists, CannotMove):
                if overwrite:
                    raise
                return False

        return self._change("RENAME", checker, txn)

    def _rename(self, db, src, dst, target, overwrite):
        source = self._path(db, src)
        inode = source[-1]
        self._keep_snapshot_roots(db, inode, src)
        self._lookup(db, dst)
        existing = self._lookup(db, target)
        if existing is not None and existing.id == inode.id:
            return True
        new_parents = self._path(db, paths.parent(target))
        if inode.id == ROOT or target == "/" or inode.id in {i.id for i in new_parents}:
            raise CannotMove(f"Cannot rename {src} to {target}: a directory cannot move into itself")
        new_parent, name = new_parents[-1], paths.basename(target)
        if existing is not None:
            if not overwrite:
                raise AlreadyExists(f"Rename destination {target} already exists")
            if existing.is_directory != inode.is_directory:
                raise AlreadyExists(f"Rename destination {target} is a {existing.type.lower()}")
            if self._has_entries(db, existing.id):
                raise DirectoryNotEmpty(f"Rename destination {target} is a non-empty directory")
            self._unlink(db, new_parent.id, name, existing)
        db.execute("UPDATE dirents SET parent = ?, name = ? WHERE parent = ? AND name = ?",
                   (new_parent.id, name, source[-2].id, paths.basename(src)))
        self._changed(db, inode.id)  # as Linux file systems do: a renamed inode has changed
        self._touch(db, source[-2].id)
        self._touch(db, new_parent.id)
        self._enforce_quotas(db, target, 1, inode.size * inode.replication or 1, {i.id for i in source[:-1]})
        return True

    def _destination(self, db, src, dst, into):
        """Where ``src`` lands when moved or copied to ``dst``: inside ``dst`` when it is a directory and ``into``
        (HDFS's rename without overwrite, and every copy), else ``dst`` itself."""
        chain = self._walk(db, dst)
        if into and len(chain) == len(paths.split(dst)) + 1 and chain[-1].type == DIRECTORY:
            return paths.join(dst, paths.basename(src))
        return dst

    def copy(self, src, dst, overwrite=False, owner=None, group=None, checker=None):
        def txn(db):
            dst_path = self._destination(db, src, dst, into=True)
            self._check(db, checker, "COPY", src, destination=dst_path, replacing=dst_path if overwrite else None)
            inode = self._resolve(db, src)
            self._lookup(db, dst)
            existing = self._lookup(db, dst_path)
            if existing is not None and existing.id == inode.id:
                raise AlreadyExists(f"Cannot copy {src} onto itself")
            self._check_replaceable(existing, dst_path, overwrite and inode.type == FILE)
            parents = self._path(db, paths.parent(dst_path))
            if inode.id in {i.id for i in parents}:
                raise CannotMove(f"Cannot copy {src} into itself")
            parent, name = parents[-1], paths.basename(dst_path)
            if existing is not None:
                self._unlink(db, parent.id, name, existing)
            self._copy_tree(db, inode, parent, name, owner, group)
            self._touch(db, parent.id)
            self._enforce_quotas(db, dst_path, 1, inode.size * inode.replication or 1)
            return True

        return self._change("COPY", checker, txn)

    def _copy_tree(self, db, inode, parent, name, owner=None, group=None):
        """Copy ``inode`` and everything below it as ``name`` in the directory ``parent`` (a loop: paths may be
        deep), owned as ``copy`` says."""
        pending = [(inode, parent, name)]
        while pending:
            node, parent, name = pending.pop()
            t = now_ms()
            new_owner, (new_group, mode) = node.owner, (node.group, node.mode)
            if owner is not None:  # a copy given to another keeps no setuid or setgid of a file, as cp's
                kept = node.mode if node.type == DIRECTORY else node.mode & ~(SETUID | SETGID)
                new_owner, (new_group, mode) = owner, in_parent(parent, group, kept, node.type)
            new = self._new_inode(db, parent.id, name, node.type, node.size, mode, new_owner, new_group, t, t,
                                  node.replication, node.block_size, node.target, node.rdev, node.acl)
            db.execute("INSERT INTO xattrs (inode, name, value) SELECT ?, name, value FROM xattrs WHERE inode = ?",
                       (new.id, node.id))
            if node.type == FILE:
                db.execute("INSERT INTO extents (inode, seq, block_id, block_offset, length)"
                           " SELECT ?, seq, block_id, block_offset, length FROM extents WHERE inode = ?",
                           (new.id, node.id))
            elif node.type == DIRECTORY:
                pending.extend((child, new, child_name) for child_name, child in self._entries(db, node.id))

    def link(self, existing, new, checker=None):
        def txn(db):
            self._check(db, checker, "LINK", existing, destination=new)
            *_, inode = self._path(db, existing)
            if inode.type == DIRECTORY:
                raise IsADirectory(f"Cannot make a hard link to a directory: {existing}")
            parent, name = self._free_entry(db, new, create_parent=False)
            self._add_name(db, parent.id, name, inode.id)
            self._changed(db, inode.id)
            self._touch(db, parent.id)
            self._enforce_quotas(db, new, 1, inode.size * inode.replication)  # a name, and the bytes it brings in
            return self._inode(db, inode.id)

        return self._change("LINK", checker, txn)

    def symlink(self, target, path, create_parent=True, owner=None, group=None, checker=None):
        if not target:
            return fail(BadRequest("A symlink needs a target"))
        return self._make("CREATESYMLINK", checker, path, SYMLINK, 0o777, owner, group, create_parent, target=target)

    def mknod(self, path, kind, mode, rdev=0, owner=None, group=None, checker=None):
        if kind not in SPECIAL:
            return fail(BadRequest(f"Not a special file type: {kind}"))
        return self._make("MKNOD", checker, path, kind, mode, owner, group, create_parent=False, rdev=rdev)

    def _make(self, op, checker, path, kind, mode, owner, group, create_parent, target=None, rdev=0):
        """Create an inode without data (a symlink or a special file) at the free ``path``; the Inode."""
        owner, group = owner or self.defaults["owner"], group or self.defaults["group"]

        def txn(db):
            self._check(db, checker, op, path)
            parent, name = self._free_entry(db, path, create_parent, owner, group)
            t = now_ms()
            entry_group, entry_mode = in_parent(parent, group, mode, kind)
            inode = self._new_inode(db, parent.id, name, kind, 0, entry_mode, owner, entry_group, t, t, target=target,
                                    rdev=rdev)
            self._touch(db, parent.id)
            self._enforce_quotas(db, path, 1, 0)
            return inode

        return self._change(op, checker, txn)

    def _free_entry(self, db, path, create_parent, owner=None, group=None):
        """(the parent directory's Inode, the name) of a new entry at ``path``: AlreadyExists when taken."""
        if path == "/":
            raise AlreadyExists("/ already exists as a directory")
        if create_parent:
            parent = self._mkdirs(db, paths.parent(path), 0o755, owner or self.defaults["owner"],
                                  group or self.defaults["group"])
        else:
            parent = self._directory(db, paths.parent(path))
        name = paths.basename(path)
        if self._child(db, parent.id, name) is not None:
            raise AlreadyExists(f"{path} already exists")
        return parent, name

    def concat(self, target, sources, checker=None):
        def txn(db):
            self._check(db, checker, "CONCAT", target, sources=sources)
            inode = self._file(db, target)
            above = self._path(db, target)[:-1]
            seq = self._next_seq(db, inode.id)
            added = 0
            growth = Counter()  # bytes (replicas counted) each directory above the target gains
            for src in sources:
                if src == target:
                    raise BadRequest(f"CONCAT source {src} is the target")
                *source_above, parent, source = self._path(db, src)
                if source.id == inode.id:
                    raise BadRequest(f"CONCAT source {src} is a hard link of the target")
                if source.type != FILE:
                    raise IsADirectory(f"Path is a directory, not a file: {src}")
                growth.update({directory.id: source.size * inode.replication for directory in above})
                growth.subtract({directory.id: source.size * source.replication
                                 for directory in (*source_above, parent)})
                extents = self._extents(db, source.id)
                self._set_extents(db, inode.id, extents, seq)
                seq += len(extents)
                added += source.size
                self._unlink(db, parent.id, paths.basename(src), source)
                self._touch(db, parent.id)
            db.execute("UPDATE inodes SET size = size + ? WHERE id = ?", (added, inode.id))
            self._touch(db, inode.id)
            self._written(db, inode.id, checker)
            self._enforce_quotas(db, target, 0, added * inode.replication,
                                 {directory for directory, gained in growth.items() if gained <= 0})
            return True

        return self._change("CONCAT", checker, txn)

    def truncate(self, path, new_length, checker=None):
        def txn(db):
            self._check(db, checker, "TRUNCATE", path)
            inode = self._file(db, path)
            extents = self._extents(db, inode.id)
            if new_length > inode.size:  # growing: a hole at the end (one with a hole already there), no byte stored
                grown = new_length - inode.size
                if extents and extents[-1].block_id is None:
                    grown += extents.pop().length
                kept = [*extents, Extent.hole(grown)]
            else:
                sizes = {ext.block_id: ext.block_size for ext in extents}
                kept = [Extent(block_id, start, count, sizes[block_id])
                        for block_id, start, count in pieces(extents, 0, new_length)]
            db.execute("DELETE FROM extents WHERE inode = ?", (inode.id,))
            self._set_extents(db, inode.id, kept)
            db.execute("UPDATE inodes SET size = ? WHERE id = ?", (new_length, inode.id))
            self._touch(db, inode.id)
            self._written(db, inode.id, checker)
            self._enforce_quotas(db, path, 0, (new_length - inode.size) * inode.replication)  # holes count too
            return True

        return self._change("TRUNCATE", checker, txn)

    def format(self):
        def txn(db):
            for table in ("extents", "blocks", "dirents", "xattrs", "quotas", "snapshots", "snapshottable"):
                db.execute(f"DELETE FROM {table}")
            db.execute("DELETE FROM inodes WHERE id != ?", (ROOT,))
            # what the deletes kept too
            for table in ("extents_history", "dirents_history", "inodes_history", "xattrs_history"):
                db.execute(f"DELETE FROM {table}")
            self._touch(db, ROOT)

        return self.run(txn)
