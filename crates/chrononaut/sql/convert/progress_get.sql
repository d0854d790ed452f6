-- The progress row of one table ($1: history table_name), locked when asked for by the caller
-- (the library appends FOR UPDATE inside a chunk's transaction).
SELECT table_name, legacy_table, id_column, last_id, objects, rows, all_done,
       started_at, finished_at, last_update_from, updated_at
FROM chrononaut.conversions
WHERE table_name = $1
