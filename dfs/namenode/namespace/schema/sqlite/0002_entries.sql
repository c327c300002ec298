-- Inodes apart from their names: a directory entry (parent, name) names an inode, so a file may later have several
-- (hard links); an inode gains a link count, a symlink's target and a device number; an extent without a block is
-- a hole. SQLite changes columns by rebuilding a table: create the new one, copy, drop the old, rename.
CREATE TABLE inodes_v2 (
    id INTEGER PRIMARY KEY,
    type TEXT NOT NULL,
    size INTEGER NOT NULL DEFAULT 0,
    mode INTEGER NOT NULL,
    owner TEXT NOT NULL,
    grp TEXT NOT NULL,
    mtime INTEGER NOT NULL,
    atime INTEGER NOT NULL,
    replication INTEGER NOT NULL DEFAULT 0,
    block_size INTEGER NOT NULL DEFAULT 0,
    nlink INTEGER NOT NULL DEFAULT 1,
    target TEXT,
    rdev INTEGER NOT NULL DEFAULT 0
);
INSERT INTO inodes_v2 (id, type, size, mode, owner, grp, mtime, atime, replication, block_size)
    SELECT id, type, size, mode, owner, grp, mtime, atime, replication, block_size FROM inodes;

CREATE TABLE dirents (
    parent INTEGER NOT NULL,
    name TEXT NOT NULL,
    inode INTEGER NOT NULL,
    PRIMARY KEY (parent, name)
) WITHOUT ROWID;  -- a lookup by (parent, name) reads one b-tree, not an index and then the table
INSERT INTO dirents (parent, name, inode) SELECT parent, name, id FROM inodes WHERE id != 1;
CREATE INDEX dirents_by_inode ON dirents (inode);

DROP TABLE inodes;
ALTER TABLE inodes_v2 RENAME TO inodes;

CREATE TABLE extents_v2 (
    inode INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    block_id TEXT REFERENCES blocks(id),
    block_offset INTEGER NOT NULL,
    length INTEGER NOT NULL,
    PRIMARY KEY (inode, seq)
);
INSERT INTO extents_v2 SELECT inode, seq, block_id, block_offset, length FROM extents;
DROP TABLE extents;  -- and its index and triggers
ALTER TABLE extents_v2 RENAME TO extents;
CREATE INDEX extents_by_block ON extents (block_id);
CREATE TRIGGER block_referenced AFTER INSERT ON extents WHEN NEW.block_id IS NOT NULL BEGIN
    UPDATE blocks SET unreferenced_since = NULL WHERE id = NEW.block_id AND unreferenced_since IS NOT NULL;
END;
CREATE TRIGGER block_unreferenced AFTER DELETE ON extents
    WHEN OLD.block_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM extents WHERE block_id = OLD.block_id) BEGIN
    UPDATE blocks SET unreferenced_since = gc_now() WHERE id = OLD.block_id;
END;
