-- `track` on SQLite (src/backend/sqlite.rs): records a table's tracking options, or changes
-- them when the table is tracked already (its first tracked_at stays).
--   ?1 table_name  ?2 hidden (JSON array)  ?3 untracked (JSON array)  ?4 strict (0/1)
--   ?5 tracked_at (ISO-8601 UTC)  ?6 the column names the triggers were made for
INSERT INTO chrononaut_tracked (table_name, hidden, untracked, strict, tracked_at, columns)
VALUES (?1, ?2, ?3, ?4, ?5, ?6)
ON CONFLICT (table_name) DO UPDATE SET hidden = excluded.hidden,
    untracked = excluded.untracked, strict = excluded.strict, columns = excluded.columns
