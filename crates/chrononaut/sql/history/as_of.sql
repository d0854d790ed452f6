-- Every record of a table as it was at $2, through chrononaut.history_as_of
-- (sql/history/functions.sql: per key, the latest version recorded at or before $2, unless it
-- is a deletion; O(records x log(history)); it checks that the role reading may read the
-- history, then reads it by index as the owner). Rows in the history index's order (by a hash
-- of the key), not in key order.
--   $1 table_name, $2 the time
SELECT key, version, changed, data
FROM chrononaut.history_as_of($1::text, $2::timestamptz)
