"""An inode's attributes: times, mode, owner, replication, ACL and extended attributes, and the access check.
Mixed into ``RelationalNamespace``."""

from dfs.errors import FileNotFound, IOFailure
from dfs.namenode import acls, xattrs
from dfs.namenode.namespace.entries import CLEAR_SETID
from dfs.namenode.namespace.model import FILE, MAX_XATTRS


class Attributes:
    """The interface's attribute changes (namespace.interface), each in one transaction (``_change``)."""

    def set_times(self, path, mtime=None, atime=None, checker=None):
        return self._update(path, "SETTIMES", checker, {}, "mtime = COALESCE(?, mtime), atime = COALESCE(?, atime)",
                            mtime, atime)

    def set_permission(self, path, mode, checker=None):
        return self._update(path, "SETPERMISSION", checker, {"mode": mode}, "mode = ?", mode)

    def set_owner(self, path, owner=None, group=None, checker=None):
        return self._update(path, "SETOWNER", checker, {"owner": owner, "group": group},
                            f"owner = COALESCE(?, owner), grp = COALESCE(?, grp), mode = {CLEAR_SETID}", owner, group)

    def _update(self, path, op, checker, details, assignments, *values):
        """Set attributes of the inode at ``path`` (WebHDFS ``op``, checked with ``details``): ``assignments`` is SQL
        of this module, ``values`` its values. The Inode as changed."""

        def txn(db):
            self._check(db, checker, op, path, **details)
            inode_id = self._resolve(db, path).id
            db.execute(f"UPDATE inodes SET {assignments} WHERE id = ?", (*values, inode_id))
            self._changed(db, inode_id)
            return self._inode(db, inode_id)

        return self._change(op, checker, txn)

    def set_replication(self, path, replication, checker=None):
        def txn(db):
            self._check(db, checker, "SETREPLICATION", path)
            inode = self._resolve(db, path)
            if inode.type != FILE:
                return False
            db.execute("UPDATE inodes SET replication = ? WHERE id = ?", (replication, inode.id))
            self._enforce_quotas(db, path, 0, inode.size * (replication - inode.replication))  # replicas count
            return True

        return self._change("SETREPLICATION", checker, txn)

    def change_acl(self, path, op, spec=(), checker=None):
        def txn(db):
            self._check(db, checker, op, path)
            inode = self._resolve(db, path)
            mode, acl = acls.change(op, inode.mode, inode.acl, inode.is_directory, spec, path)
            db.execute("UPDATE inodes SET mode = ?, acl = ? WHERE id = ?", (mode, acl, inode.id))
            self._changed(db, inode.id)
            return self._inode(db, inode.id)

        return self._change(op, checker, txn)

    def check_access(self, path, access, checker=None, op="CHECKACCESS"):
        def txn(db):
            self._check(db, checker, op, path, access=access)
            if self._lookup(db, path) is None:
                raise FileNotFound("Path not found" if op == "CHECKACCESS" else f"File does not exist: {path}")

        return self.lookup(txn)

    def xattrs(self, path, checker=None, op="GETXATTRS"):
        def txn(db):
            self._check(db, checker, op, path)
            inode = self._resolve(db, path)
            return xattrs.shown(db.execute("SELECT name, value FROM xattrs WHERE inode = ?", (inode.id,)), checker)

        return self.lookup(txn)

    def set_xattr(self, path, name, value, create, replace, checker=None):
        def txn(db):
            self._check_xattr(db, checker, "SETXATTR", path, name)
            inode = self._resolve(db, path)
            exists = db.execute("SELECT 1 FROM xattrs WHERE inode = ? AND name = ?", (inode.id, name)).fetchone()
            if exists and not replace:
                raise IOFailure(f"XAttr: {name} already exists. The REPLACE flag must be specified.")
            if not exists and not create:
                raise IOFailure(f"XAttr: {name} does not exist. The CREATE flag must be specified.")
            held = db.execute("SELECT COUNT(*) FROM xattrs WHERE inode = ?", (inode.id,)).fetchone()[0]
            if not exists and held >= MAX_XATTRS:
                raise IOFailure(f"Cannot add additional XAttr to inode, would exceed limit of {MAX_XATTRS}")
            db.execute("INSERT INTO xattrs (inode, name, value) VALUES (?, ?, ?)"
                       " ON CONFLICT (inode, name) DO UPDATE SET value = excluded.value", (inode.id, name, value))
            self._changed(db, inode.id)

        return self._change("SETXATTR", checker, txn)

    def remove_xattr(self, path, name, checker=None):
        def txn(db):
            self._check_xattr(db, checker, "REMOVEXATTR", path, name)
            inode = self._resolve(db, path)
            if not db.execute("DELETE FROM xattrs WHERE inode = ? AND name = ?", (inode.id, name)).rowcount:
                raise IOFailure("No matching attributes found for remove operation")
            self._changed(db, inode.id)

        return self._change("REMOVEXATTR", checker, txn)

    def _check_xattr(self, db, checker, op, path, name):
        """A change of an extended attribute: write access, and ``trusted.`` names are the superuser's (HDFS)."""
        self._check(db, checker, op, path)
        if checker is not None and xattrs.superusers_only(name):
            checker.check_superuser()
