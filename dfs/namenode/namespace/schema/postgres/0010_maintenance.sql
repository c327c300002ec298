-- Datanodes in maintenance: as SQLite's 0011_maintenance.sql. Every namenode reads the windows again every few
-- seconds, so one started on any of them reaches the others.
CREATE TABLE maintenance (
    node_id TEXT PRIMARY KEY,
    until DOUBLE PRECISION NOT NULL
);
