-- A table's recent activity, newest first: its history rows ($1 table_name) ordered by
-- (changed DESC, id DESC), one page of at most $7 rows.
--   <activity>  the activity table, schema-qualified and quoted
--   $2 after (changed >= $2, NULL: no bound), $3 before (changed <= $3, NULL: no bound),
--   $4, $5 the cursor: the (changed, id) of the last row of the previous page (NULL: the
--   first page), $6 operations (text[]; NULL: every row, including the Python library's,
--   whose operation is NULL), $7 the page size.
--   <user_filter>  empty, or activity_user_table.sql (user_info->>'user_id' = $8) when a
--   user is given: only then is $8 bound. Apart, not `$8 IS NULL OR ...`: that condition's
--   low estimated selectivity made the generic plan sort the table's whole history.
-- Keyset pagination: the next page starts strictly after the cursor in (changed, id) order,
-- so rows recorded meanwhile never shift a page and `id` breaks ties of `changed` (rows of one
-- statement can share it). One backward range scan of ix_chrononaut_activity_table_changed
-- (table_name, changed, id) that stops after $7 rows; the bounds are written with COALESCE so
-- that they stay index conditions in a generic plan. An operation filter is checked on the
-- rows the scan reaches (it narrows nothing in the index).
-- `id IS NOT NULL` (true of every row) is the index's predicate: it lets this query use the
-- partial index (see install.sql).
-- Only versions are in the activity table (lock events moved to chrononaut.lock_events in
-- schema version 2), so no row needs skipping.
SELECT id, table_name, changed, version, key, data, user_info, extra_info, operation
FROM {{activity}}
WHERE table_name = $1 AND id IS NOT NULL
  AND changed >= COALESCE($2::timestamptz, '-infinity'::timestamptz)
  AND changed <= COALESCE($3::timestamptz, 'infinity'::timestamptz)
  AND (changed, id) < (COALESCE($4::timestamptz, 'infinity'::timestamptz),
                       COALESCE($5::int8, 9223372036854775807))
  AND ($6::text[] IS NULL OR operation = ANY ($6::text[]))
  {{user_filter}}
ORDER BY changed DESC, id DESC
LIMIT $7
