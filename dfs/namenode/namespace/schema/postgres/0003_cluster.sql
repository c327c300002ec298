-- The lease of the namenode that runs background work (repair, trimming, GC, the trash emptier): one row (none
-- until a namenode first leads), its expiry on the database's clock (gc_now()). The epoch grows with every new
-- holder; GC's transactions check it, and datanodes refuse a DELETE of an older one, so a leader that was frozen
-- and wakes up acts on nothing.
CREATE TABLE leader (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    holder TEXT NOT NULL,
    epoch BIGINT NOT NULL,
    expires DOUBLE PRECISION NOT NULL
);
