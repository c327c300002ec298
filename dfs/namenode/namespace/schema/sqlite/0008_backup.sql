-- Holds of the namespace's kept backups (docs/architecture.md, "Garbage collection"): a row keeps every history row
-- alive at some commit in [since, upto], so GC keeps every block a backup kept by the namenode names. One row per
-- backup for its commits (from its oldest kept commit to the one it was taken at) and one per snapshot it holds.
CREATE TABLE backup_holds (backup TEXT NOT NULL, since INTEGER NOT NULL, upto INTEGER NOT NULL);
CREATE INDEX backup_holds_by_backup ON backup_holds (backup);
