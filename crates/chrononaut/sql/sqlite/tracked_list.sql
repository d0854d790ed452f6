-- `status` on SQLite: the tracked tables, by name.
SELECT table_name FROM chrononaut_tracked ORDER BY table_name
