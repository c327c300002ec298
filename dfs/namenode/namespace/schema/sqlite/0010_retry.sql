-- The retry cache (docs/architecture.md, "Exactly-once retries"): the answer a change numbered by its client
-- (client id, call id) got, written in that change's own transaction, so the same request sent again answers it
-- rather than making the change twice. The leader drops entries older than --retry-cache-expiry.
CREATE TABLE retries (
    client_id TEXT NOT NULL,
    call_id INTEGER NOT NULL,
    op TEXT NOT NULL,  -- the WebHDFS operation: an id sent again with another one is refused
    answer TEXT NOT NULL,  -- JSON (namespace.retries)
    made REAL NOT NULL,  -- seconds since the epoch
    PRIMARY KEY (client_id, call_id)
);
CREATE INDEX retries_by_age ON retries (made);
