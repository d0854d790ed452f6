-- The latest history rows of a whole table ($1 table_name), newest first, at most $2, changed
-- at or before $3 (NULL: now). Reads every history row of the table (the index leads with
-- (table_name, key), not time): meant for an operator's look, not a hot path.
--   <activity>  the activity table, schema-qualified and quoted
-- Versions only: rows of lock/unlock events (operation 'lock' / 'unlock', see
-- sql/locking/functions.sql) are not versions of the record and are skipped.
SELECT id, table_name, changed, version, key, data, user_info, extra_info, operation
FROM {{activity}}
WHERE table_name = $1
  AND (operation IS NULL OR operation IN ('insert', 'update', 'delete'))
  AND changed <= COALESCE($3::timestamptz, 'infinity'::timestamptz)
ORDER BY changed DESC, version DESC, id DESC
LIMIT $2
