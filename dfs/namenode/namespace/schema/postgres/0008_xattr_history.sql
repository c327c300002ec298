-- Extended attributes keep their history like inodes, dirents and extents (0006_history.sql): a snapshot or an
-- ``at`` read shows the attributes as they were.
ALTER TABLE xattrs ADD COLUMN born BIGINT NOT NULL DEFAULT 0;

CREATE TABLE xattrs_history (LIKE xattrs);
ALTER TABLE xattrs_history ADD COLUMN died BIGINT NOT NULL;
CREATE INDEX xattrs_history_by_inode ON xattrs_history (inode, died);
CREATE INDEX xattrs_history_by_death ON xattrs_history (died);

CREATE TRIGGER xattrs_history BEFORE INSERT OR UPDATE OR DELETE ON xattrs
    FOR EACH ROW EXECUTE FUNCTION keep_history();
