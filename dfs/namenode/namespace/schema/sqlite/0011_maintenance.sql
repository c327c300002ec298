-- Datanodes in maintenance (`dfs maintenance NODE --for 1h`): until when, in seconds since the epoch. While the
-- window runs the node's replicas are not copied elsewhere (down to --maintenance-min-replicas); a window that
-- ended is ignored, and replaced by the node's next one. Kept here so that a restarted namenode, and every namenode
-- sharing a database, knows it.
CREATE TABLE maintenance (
    node_id TEXT PRIMARY KEY,
    until REAL NOT NULL
);
