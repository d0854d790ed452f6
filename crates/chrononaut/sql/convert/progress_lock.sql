-- Creates the progress row of one table if it is missing. The caller then reads it with
-- progress_get.sql ... FOR UPDATE, so that two converters of one table take turns.
--   $1 table_name (history), $2 legacy table, $3 id column
INSERT INTO chrononaut.conversions (table_name, legacy_table, id_column)
VALUES ($1, $2, $3)
ON CONFLICT (table_name) DO NOTHING
