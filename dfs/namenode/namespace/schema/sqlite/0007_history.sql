-- History, for snapshots and point-in-time reads (docs/architecture.md, "History"). The tables stay "the present":
-- every present row of inodes, dirents and extents carries the commit that wrote it (``born``), and triggers copy a
-- row about to change or go into its table's ``_history`` twin, valid over [born, died). No statement of the
-- namespace's changes is altered. Each write transaction adds one row to ``commits``: its number orders the
-- changes, its time maps a moment to a commit. A row changed twice in one commit leaves one history row (the state
-- before the commit): the states between were never visible to anyone.
CREATE TABLE commits (number INTEGER PRIMARY KEY, at REAL NOT NULL);
INSERT INTO commits (number, at) VALUES (0, 0);

ALTER TABLE inodes ADD COLUMN born INTEGER NOT NULL DEFAULT 0;
ALTER TABLE dirents ADD COLUMN born INTEGER NOT NULL DEFAULT 0;
ALTER TABLE extents ADD COLUMN born INTEGER NOT NULL DEFAULT 0;

CREATE TABLE inodes_history (
    id INTEGER NOT NULL, type TEXT NOT NULL, size INTEGER NOT NULL, mode INTEGER NOT NULL, owner TEXT NOT NULL,
    grp TEXT NOT NULL, mtime INTEGER NOT NULL, atime INTEGER NOT NULL, replication INTEGER NOT NULL,
    block_size INTEGER NOT NULL, nlink INTEGER NOT NULL, target TEXT, rdev INTEGER NOT NULL, acl TEXT,
    ctime INTEGER NOT NULL, born INTEGER NOT NULL, died INTEGER NOT NULL
);
CREATE INDEX inodes_history_by_id ON inodes_history (id, died);
CREATE INDEX inodes_history_by_death ON inodes_history (died);
CREATE TABLE dirents_history (
    parent INTEGER NOT NULL, name TEXT NOT NULL, inode INTEGER NOT NULL, born INTEGER NOT NULL, died INTEGER NOT NULL
);
CREATE INDEX dirents_history_by_parent ON dirents_history (parent, name, died);
CREATE INDEX dirents_history_by_death ON dirents_history (died);
CREATE TABLE extents_history (
    inode INTEGER NOT NULL, seq INTEGER NOT NULL, block_id TEXT, block_offset INTEGER NOT NULL,
    length INTEGER NOT NULL, born INTEGER NOT NULL, died INTEGER NOT NULL
);
CREATE INDEX extents_history_by_inode ON extents_history (inode, died);
CREATE INDEX extents_history_by_block ON extents_history (block_id) WHERE block_id IS NOT NULL;
CREATE INDEX extents_history_by_death ON extents_history (died);

-- Snapshots (HDFS's): a directory allowed to have them, and each one a name for a commit of that directory.
CREATE TABLE snapshottable (inode INTEGER PRIMARY KEY);
CREATE TABLE snapshots (
    id INTEGER PRIMARY KEY,
    directory INTEGER NOT NULL,
    name TEXT NOT NULL,
    commit_number INTEGER NOT NULL,
    created INTEGER NOT NULL,  -- milliseconds since the epoch
    UNIQUE (directory, name)
);

-- The triggers. ``(SELECT MAX(number) FROM commits)`` is the running transaction's commit (the runner adds its row
-- first). A new row is stamped after its insert; the stamp's own update leaves ``born`` changed, which the update
-- trigger skips.
CREATE TRIGGER inodes_born AFTER INSERT ON inodes BEGIN
    UPDATE inodes SET born = (SELECT MAX(number) FROM commits) WHERE id = NEW.id;
END;
CREATE TRIGGER inodes_changed AFTER UPDATE ON inodes
    WHEN NEW.born = OLD.born AND OLD.born < (SELECT MAX(number) FROM commits) BEGIN
    INSERT INTO inodes_history VALUES (OLD.id, OLD.type, OLD.size, OLD.mode, OLD.owner, OLD.grp, OLD.mtime,
        OLD.atime, OLD.replication, OLD.block_size, OLD.nlink, OLD.target, OLD.rdev, OLD.acl, OLD.ctime, OLD.born,
        (SELECT MAX(number) FROM commits));
    UPDATE inodes SET born = (SELECT MAX(number) FROM commits) WHERE id = NEW.id;
END;
CREATE TRIGGER inodes_died AFTER DELETE ON inodes WHEN OLD.born < (SELECT MAX(number) FROM commits) BEGIN
    INSERT INTO inodes_history VALUES (OLD.id, OLD.type, OLD.size, OLD.mode, OLD.owner, OLD.grp, OLD.mtime,
        OLD.atime, OLD.replication, OLD.block_size, OLD.nlink, OLD.target, OLD.rdev, OLD.acl, OLD.ctime, OLD.born,
        (SELECT MAX(number) FROM commits));
END;

CREATE TRIGGER dirents_born AFTER INSERT ON dirents BEGIN
    UPDATE dirents SET born = (SELECT MAX(number) FROM commits) WHERE parent = NEW.parent AND name = NEW.name;
END;
CREATE TRIGGER dirents_changed AFTER UPDATE ON dirents
    WHEN NEW.born = OLD.born AND OLD.born < (SELECT MAX(number) FROM commits) BEGIN
    INSERT INTO dirents_history VALUES (OLD.parent, OLD.name, OLD.inode, OLD.born, (SELECT MAX(number) FROM commits));
    UPDATE dirents SET born = (SELECT MAX(number) FROM commits) WHERE parent = NEW.parent AND name = NEW.name;
END;
CREATE TRIGGER dirents_died AFTER DELETE ON dirents WHEN OLD.born < (SELECT MAX(number) FROM commits) BEGIN
    INSERT INTO dirents_history VALUES (OLD.parent, OLD.name, OLD.inode, OLD.born, (SELECT MAX(number) FROM commits));
END;

-- Extents are inserted and deleted, never updated in place (an overwrite or a truncate replaces a file's list).
CREATE TRIGGER extents_born AFTER INSERT ON extents BEGIN
    UPDATE extents SET born = (SELECT MAX(number) FROM commits) WHERE inode = NEW.inode AND seq = NEW.seq;
END;
CREATE TRIGGER extents_died AFTER DELETE ON extents WHEN OLD.born < (SELECT MAX(number) FROM commits) BEGIN
    INSERT INTO extents_history VALUES (OLD.inode, OLD.seq, OLD.block_id, OLD.block_offset, OLD.length, OLD.born,
        (SELECT MAX(number) FROM commits));
END;
