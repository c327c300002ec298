-- The lease of the namenode that runs background work (repair, trimming, GC, the trash emptier): one row. The
-- epoch grows with every new holder; GC's transactions check it, and datanodes refuse a DELETE of an older one.
-- No row: nobody led yet. SQLite has one namenode, which always holds it.
CREATE TABLE leader (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    holder TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    expires REAL NOT NULL
);
