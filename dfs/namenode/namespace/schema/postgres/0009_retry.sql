-- The retry cache (docs/architecture.md, "Exactly-once retries"): as SQLite's 0010_retry.sql. Two namenodes
-- running the same change at once both insert its key: SERIALIZABLE makes the later one fail and try again, and
-- then it finds the answer.
CREATE TABLE retries (
    client_id TEXT COLLATE "C" NOT NULL,
    call_id BIGINT NOT NULL,
    op TEXT NOT NULL,  -- the WebHDFS operation: an id sent again with another one is refused
    answer TEXT NOT NULL,  -- JSON (namespace.retries)
    made DOUBLE PRECISION NOT NULL,  -- seconds since the epoch
    PRIMARY KEY (client_id, call_id)
);
CREATE INDEX retries_by_age ON retries (made);
