-- The schema of the releases before versioned schemas (they record no version: such a database is version 1).
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE inodes (
    id INTEGER PRIMARY KEY,
    parent INTEGER NOT NULL,
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    size INTEGER NOT NULL DEFAULT 0,
    mode INTEGER NOT NULL,
    owner TEXT NOT NULL,
    grp TEXT NOT NULL,
    mtime INTEGER NOT NULL,
    atime INTEGER NOT NULL,
    replication INTEGER NOT NULL DEFAULT 0,
    block_size INTEGER NOT NULL DEFAULT 0,
    UNIQUE (parent, name)
);
CREATE TABLE blocks (id TEXT PRIMARY KEY, size INTEGER NOT NULL, unreferenced_since REAL);
CREATE TABLE extents (
    inode INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    block_id TEXT NOT NULL REFERENCES blocks(id),
    block_offset INTEGER NOT NULL,
    length INTEGER NOT NULL,
    PRIMARY KEY (inode, seq)
);
CREATE INDEX extents_by_block ON extents (block_id);
CREATE TABLE pins (
    block_id TEXT NOT NULL,
    owner TEXT NOT NULL,
    expires REAL NOT NULL,
    PRIMARY KEY (block_id, owner)
);
CREATE INDEX pins_by_owner ON pins (owner);
-- Every datanode that ever registered: after a restart, safe mode waits for their block reports.
CREATE TABLE datanodes (id TEXT PRIMARY KEY, url TEXT NOT NULL);
-- GC counts a block's grace from the moment its last reference went, whichever change removed it, so the stamp
-- is kept by triggers rather than by each namespace change. gc_now() is the backend's clock.
CREATE TRIGGER block_referenced AFTER INSERT ON extents BEGIN
    UPDATE blocks SET unreferenced_since = NULL WHERE id = NEW.block_id AND unreferenced_since IS NOT NULL;
END;
CREATE TRIGGER block_unreferenced AFTER DELETE ON extents
    WHEN NOT EXISTS (SELECT 1 FROM extents WHERE block_id = OLD.block_id) BEGIN
    UPDATE blocks SET unreferenced_since = gc_now() WHERE id = OLD.block_id;
END;
