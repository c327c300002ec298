-- Extended attributes keep their history like inodes, dirents and extents (0007_history.sql): a snapshot or an
-- ``at`` read shows the attributes as they were. And every history table is clustered by the key a past read looks
-- up, ending with the commit that ended the row (unique: a row dies once per commit): one b-tree fewer to write per
-- kept row than a rowid table and its index, which is most of what history adds to a rename (bench/RESULTS.md).
-- Only the key's columns are NOT NULL: SQLite 3.40's integrity_check misreads the NOT NULL columns of a WITHOUT
-- ROWID table whose key does not lead (it reports NULLs that are not there); the triggers copy checked rows.
ALTER TABLE xattrs ADD COLUMN born INTEGER NOT NULL DEFAULT 0;

CREATE TEMP TABLE kept_inodes AS SELECT * FROM inodes_history;
DROP TABLE inodes_history;
CREATE TABLE inodes_history (
    id INTEGER NOT NULL, type TEXT, size INTEGER, mode INTEGER, owner TEXT, grp TEXT, mtime INTEGER, atime INTEGER,
    replication INTEGER, block_size INTEGER, nlink INTEGER, target TEXT, rdev INTEGER, acl TEXT, ctime INTEGER,
    born INTEGER, died INTEGER NOT NULL,
    PRIMARY KEY (id, died)
) WITHOUT ROWID;
INSERT INTO inodes_history SELECT * FROM kept_inodes;
DROP TABLE kept_inodes;
CREATE INDEX inodes_history_by_death ON inodes_history (died);

CREATE TEMP TABLE kept_dirents AS SELECT * FROM dirents_history;
DROP TABLE dirents_history;
CREATE TABLE dirents_history (
    parent INTEGER NOT NULL, name TEXT NOT NULL, inode INTEGER, born INTEGER, died INTEGER NOT NULL,
    PRIMARY KEY (parent, name, died)
) WITHOUT ROWID;
INSERT INTO dirents_history SELECT * FROM kept_dirents;
DROP TABLE kept_dirents;
CREATE INDEX dirents_history_by_death ON dirents_history (died);

CREATE TEMP TABLE kept_extents AS SELECT * FROM extents_history;
DROP TABLE extents_history;
CREATE TABLE extents_history (
    inode INTEGER NOT NULL, seq INTEGER NOT NULL, block_id TEXT, block_offset INTEGER, length INTEGER, born INTEGER,
    died INTEGER NOT NULL,
    PRIMARY KEY (inode, seq, died)
) WITHOUT ROWID;
INSERT INTO extents_history SELECT * FROM kept_extents;
DROP TABLE kept_extents;
CREATE INDEX extents_history_by_block ON extents_history (block_id) WHERE block_id IS NOT NULL;
CREATE INDEX extents_history_by_death ON extents_history (died);

CREATE TABLE xattrs_history (
    inode INTEGER NOT NULL, name TEXT NOT NULL, value BLOB, born INTEGER, died INTEGER NOT NULL,
    PRIMARY KEY (inode, name, died)
) WITHOUT ROWID;
CREATE INDEX xattrs_history_by_death ON xattrs_history (died);

CREATE TRIGGER xattrs_born AFTER INSERT ON xattrs BEGIN
    UPDATE xattrs SET born = (SELECT MAX(number) FROM commits) WHERE inode = NEW.inode AND name = NEW.name;
END;
CREATE TRIGGER xattrs_changed AFTER UPDATE ON xattrs
    WHEN NEW.born = OLD.born AND OLD.born < (SELECT MAX(number) FROM commits) BEGIN
    INSERT INTO xattrs_history VALUES (OLD.inode, OLD.name, OLD.value, OLD.born, (SELECT MAX(number) FROM commits));
    UPDATE xattrs SET born = (SELECT MAX(number) FROM commits) WHERE inode = NEW.inode AND name = NEW.name;
END;
CREATE TRIGGER xattrs_died AFTER DELETE ON xattrs WHEN OLD.born < (SELECT MAX(number) FROM commits) BEGIN
    INSERT INTO xattrs_history VALUES (OLD.inode, OLD.name, OLD.value, OLD.born, (SELECT MAX(number) FROM commits));
END;
