-- Starts a table's progress over (`--force`): the next chunk begins at the first record again.
-- History already written stays; converting it again writes no duplicate (see insert.sql).
--   $1 table_name, $2 legacy table, $3 id column
UPDATE chrononaut.conversions
SET legacy_table = $2, id_column = $3, last_id = NULL, all_done = false, finished_at = NULL,
    started_at = now(), updated_at = now()
WHERE table_name = $1
