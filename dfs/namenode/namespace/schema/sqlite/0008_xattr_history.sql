-- Extended attributes keep their history like inodes, dirents and extents (0007_history.sql): a snapshot or an
-- ``at`` read shows the attributes as they were.
ALTER TABLE xattrs ADD COLUMN born INTEGER NOT NULL DEFAULT 0;

CREATE TABLE xattrs_history (
    inode INTEGER NOT NULL, name TEXT NOT NULL, value BLOB NOT NULL, born INTEGER NOT NULL, died INTEGER NOT NULL
);
CREATE INDEX xattrs_history_by_inode ON xattrs_history (inode, died);
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
