"""What blocks the namespace needs (replication targets, what GC may collect), the pins of uploads in flight, and the
lease of background work that fences GC. Mixed into ``RelationalNamespace``."""

from dfs.errors import NotLeader
from dfs.namenode.namespace.history import HELD
from dfs.namenode.namespace.model import block_target
from dfs.namenode.namespace.sql import chunks


class Blocks:
    """Blocks, pins and the leadership lease on the tables of schema/."""

    def block_targets(self):
        def txn(db):
            rows = db.execute(
                "SELECT e.block_id, MAX(i.replication), b.size FROM extents AS e JOIN inodes AS i ON i.id = e.inode"
                " JOIN blocks AS b ON b.id = e.block_id GROUP BY e.block_id, b.size")
            targets = {block_id: block_target(wanted, size) for block_id, wanted, size in rows}
            for block_id, size in self._held_history_blocks(db).items():  # snapshots' and the window's
                targets.setdefault(block_id, block_target(self.defaults["replication"], size))
            return targets

        return self.read(txn)

    def claim_leadership(self, holder, lease):
        def txn(db):
            now = self._lease_now(db)
            row = db.execute("SELECT holder, epoch, expires FROM leader WHERE id = 1").fetchone()
            current, epoch, expires = row or ("", 0, 0.0)
            if current != holder:
                if self.SHARED and expires > now:
                    return None
                epoch += 1
            db.execute("INSERT INTO leader (id, holder, epoch, expires) VALUES (1, ?, ?, ?) ON CONFLICT (id)"
                       " DO UPDATE SET holder = excluded.holder, epoch = excluded.epoch, expires = excluded.expires",
                       (holder, epoch, now + lease))
            return epoch

        return self.run(txn)

    @staticmethod
    def _check_epoch(db, epoch):
        """Refuse the transaction of a leader whose epoch is no longer the lease's (None: not background work)."""
        if epoch is None:
            return
        row = db.execute("SELECT epoch FROM leader WHERE id = 1").fetchone()
        current = row[0] if row else 0
        if current != epoch:
            raise NotLeader(f"the lease of background work is at epoch {current}, not {epoch}: another namenode leads")

    def collectable(self, block_ids, now, epoch=None):
        def txn(db):
            self._check_epoch(db, epoch)
            found = {}
            for part in chunks(block_ids):
                among, ids = self._in(part)
                referenced = {r[0] for r in db.execute(
                    f"SELECT DISTINCT block_id FROM extents WHERE block_id {among}", ids)}
                referenced.update(self._held_history_blocks(db, among, ids))
                pinned = {r[0] for r in db.execute(
                    f"SELECT DISTINCT block_id FROM pins WHERE expires > ? AND block_id {among}", [now, *ids])}
                since = dict(db.execute(f"SELECT id, unreferenced_since FROM blocks WHERE id {among}", ids))
                found.update((b, since.get(b)) for b in part if b not in referenced and b not in pinned)
            return self._on_callers_clock(db, found, now)

        return self.read(txn)

    def pin(self, block_id, owner, expires):
        return self.run(self._pin, block_id, owner, expires)

    def _pin(self, db, block_id, owner, expires):
        db.execute("INSERT INTO pins (block_id, owner, expires) VALUES (?, ?, ?)"
                   f" ON CONFLICT (block_id, owner) DO UPDATE SET expires = {self.GREATEST}(pins.expires,"
                   " excluded.expires)", (block_id, owner, expires))

    def unpin(self, block_ids, owner):
        def txn(db):
            for part in chunks(block_ids):
                among, ids = self._in(part)
                db.execute(f"DELETE FROM pins WHERE owner = ? AND block_id {among}", [owner, *ids])

        return self.run(txn)

    def renew_pins(self, owner, expires, now):
        def txn(db):
            db.execute("UPDATE pins SET expires = ? WHERE owner = ?", (expires, owner))
            db.execute("DELETE FROM pins WHERE expires <= ?", (now,))

        return self.run(txn)

    def forget_unreferenced_blocks(self, now=0, epoch=None):
        def txn(db):
            self._check_epoch(db, epoch)
            return db.execute(
                "DELETE FROM blocks WHERE id NOT IN (SELECT block_id FROM extents WHERE block_id IS NOT NULL)"
                " AND id NOT IN (SELECT h.block_id FROM extents_history AS h WHERE h.block_id IS NOT NULL AND"
                f" {HELD}) AND id NOT IN (SELECT block_id FROM pins WHERE expires > ?)",
                (self._window_start(db), now)).rowcount

        return self.run(txn)
