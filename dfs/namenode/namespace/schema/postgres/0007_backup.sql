-- Holds of kept backups (the SQLite schema's 0008_backup.sql says what they hold). A PostgreSQL namespace is backed
-- up with PostgreSQL's own tools and the table stays empty; it is here so that GC's shared SQL runs on both.
CREATE TABLE backup_holds (backup TEXT NOT NULL, since BIGINT NOT NULL, upto BIGINT NOT NULL);
CREATE INDEX backup_holds_by_backup ON backup_holds (backup);
