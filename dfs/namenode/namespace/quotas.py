"""Name and space quotas: enforced inside the transaction of the change they limit, and set. Mixed into
``RelationalNamespace``."""

from dfs import paths
from dfs.errors import DSQuotaExceeded, FileNotFound, NotADirectory, NSQuotaExceeded, QuotaByStorageTypeExceeded
from dfs.namenode.namespace.model import DIRECTORY, FILE
from dfs.namenode.namespace.sql import SUBTREE, chunks


class Quotas:
    """Quotas on the tables of schema/: a change calls ``_enforce_quotas`` in its own transaction."""

    @staticmethod
    def _usage(db, inode_id):
        """(names, bytes with every replica) at or below ``inode_id``, itself counted: what its quotas count."""
        return db.execute(SUBTREE + "SELECT COUNT(*), CAST(COALESCE(SUM(CASE WHEN i.type = 'FILE' THEN"
                          " i.size * i.replication END), 0) AS BIGINT) FROM subtree AS s JOIN inodes AS i"
                          " ON i.id = s.id", (inode_id,)).fetchone()

    def _enforce_quotas(self, db, path, names, space, exempt=frozenset(), pending=False):
        """After a change that grew ``path`` by ``names`` inodes and ``space`` bytes (replicas counted): refuse it,
        as HDFS does, when it took a directory above ``path`` (but not one of the ids ``exempt``, whose usage it
        did not change) past a quota. Raising rolls the change back in its own transaction, so no concurrent
        change slips between the check and the act. With ``pending`` the change is still to come (``check_quota``):
        its names and bytes are added to what is there. Usage is counted when a quota is met: a cost in
        proportion to that directory's tree, paid only under quotas."""
        if (names <= 0 and space <= 0) or not self._any_quota(db):
            return
        chain = self._path(db, path, free=pending)[:-1]
        ids = [inode.id for inode in chain if inode.id not in exempt]
        quotas = {}
        for chunk in chunks(ids):
            among, params = self._in(chunk)
            quotas.update((row[0], row[1:]) for row in db.execute(
                f"SELECT inode, names, space, disk FROM quotas WHERE inode {among}", params))
        names_on_the_way = paths.split(path)
        for depth, inode in enumerate(chain):
            if inode.id not in quotas:
                continue
            name_quota, space_quota, disk_quota = quotas[inode.id]
            used_names, used_space = self._usage(db, inode.id)
            if pending:
                used_names, used_space = used_names + names, used_space + space
            directory = "/" + "/".join(names_on_the_way[:depth])
            if names > 0 and 0 <= name_quota < used_names:
                raise NSQuotaExceeded.of(directory, name_quota, used_names)
            if space > 0 and 0 <= space_quota < used_space:
                raise DSQuotaExceeded.of(directory, space_quota, used_space)
            if space > 0 and 0 <= disk_quota < used_space:
                raise QuotaByStorageTypeExceeded.of(directory, "DISK", disk_quota, used_space)

    @staticmethod
    def _any_quota(db):
        """Whether some directory has a quota: without one, a change needs no walk to find the quotas above it."""
        return db.execute("SELECT 1 FROM quotas LIMIT 1").fetchone() is not None

    def check_quota(self, path, space, append=False):
        def txn(db):
            try:
                existing = self._lookup(db, path)
            except (FileNotFound, NotADirectory):
                return  # parents still to be made hold no quota yet; the commit checks anyway
            if append:
                self._enforce_quotas(db, path, 0, space, pending=True)
            elif existing is None:
                self._enforce_quotas(db, path, 1, space, pending=True)
            elif existing.type == FILE:
                self._enforce_quotas(db, path, 0, space - existing.size * existing.replication, pending=True)

        # Counting a tree under a quota may take a while (on a thread); knowing there is none is one lookup.
        return self.lookup(self._any_quota).addCallback(lambda any_quota: self.read(txn) if any_quota else None)

    def set_quota(self, path, names=None, space=None, checker=None, disk=None):
        def txn(db):
            self._check(db, checker, "SETQUOTA", path)
            if checker is not None:
                checker.check_superuser()  # HDFS: only the superuser sets quotas
            inode = self._resolve(db, path)
            if inode.type != DIRECTORY:
                raise NotADirectory(f"`{path}': Is not a directory")
            db.execute("INSERT INTO quotas (inode) VALUES (?) ON CONFLICT (inode) DO NOTHING", (inode.id,))
            db.execute("UPDATE quotas SET names = COALESCE(?, names), space = COALESCE(?, space),"
                       " disk = COALESCE(?, disk) WHERE inode = ?", (names, space, disk, inode.id))
            db.execute("DELETE FROM quotas WHERE inode = ? AND names < 0 AND space < 0 AND disk < 0", (inode.id,))

        return self._change("SETQUOTA", checker, txn)
