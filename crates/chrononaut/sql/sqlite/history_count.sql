-- `status` on SQLite: the number of history rows of one table_name (?1), from the index
-- (table_name, key, changed, version, ...).
SELECT count(*) FROM chrononaut_activity WHERE table_name = ?1
