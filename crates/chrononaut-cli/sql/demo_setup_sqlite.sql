-- The SQLite demo's sample table, in a database file of the demo's own (made afresh on every
-- run). The same columns as the PostgreSQL demo's (sql/demo_setup.sql), in SQLite's types.
CREATE TABLE demo_products (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    price      NUMERIC NOT NULL,
    cost_price NUMERIC,                  -- hidden: changes are noted, values never stored
    views      INTEGER NOT NULL DEFAULT 0, -- untracked: changes create no version
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
