-- The three identical tables of the `sqlite_writes` benchmark (src/bin/sqlite_writes.rs):
-- bench_untracked has no trigger (the baseline of every ratio), bench_reference gets the
-- reference triggers of sql/sqlite_reference.sql, bench_tracked is tracked by chrononaut.
-- Every table has the same `version` column, so that rows are the same width; only
-- chrononaut's triggers keep it.

CREATE TABLE bench_untracked (
    id INTEGER PRIMARY KEY,
    name TEXT,
    qty INTEGER,
    note TEXT,
    version INTEGER DEFAULT 0
);
CREATE TABLE bench_reference (
    id INTEGER PRIMARY KEY,
    name TEXT,
    qty INTEGER,
    note TEXT,
    version INTEGER DEFAULT 0
);
CREATE TABLE bench_tracked (
    id INTEGER PRIMARY KEY,
    name TEXT,
    qty INTEGER,
    note TEXT,
    version INTEGER DEFAULT 0
);
