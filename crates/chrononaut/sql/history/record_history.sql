-- The versions of one record, through chrononaut.record_history (sql/history/functions.sql: it
-- checks that the role reading may read them, then reads them by index as the owner, which
-- the row-level security of the activity table would not let a reader's query do).
--   $1 table_name, $2 key (jsonb), $3 changed <= $3 (NULL: no bound), $4 changed >= $4 (NULL:
--   no bound), $5 only version number $5 (NULL: all), $6 newest first, $7 limit (NULL: all),
--   $8 skip. Ordered by (changed, version, id).
SELECT id, table_name, changed, version, key, data, user_info, extra_info, operation
FROM chrononaut.record_history($1::text, $2::jsonb, $3::timestamptz, $4::timestamptz,
                               $5::integer, $6::boolean, $7::bigint, $8::bigint)
