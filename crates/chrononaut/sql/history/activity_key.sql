-- One record's activity, newest first: the history rows of $1 table_name and $2 key (the
-- normalized key JSON) ordered by (changed DESC, id DESC), one page of at most $9 rows.
--   <activity>  the activity table, schema-qualified and quoted
--   $3 after, $4 before, $5, $6 the cursor (changed, id), $7 operations (text[] or NULL),
--   $8 user (user_info->>'user_id'; NULL: every row), $9 the page size: as in
--   activity_table.sql.
-- A range scan of ix_chrononaut_activity_table_key_changed (table_name, key, changed,
-- version, id) over the record's rows within the time bounds, then the newest $9 of them by
-- (changed, id): its cost grows with the record's versions, not with the table's history.
SELECT id, table_name, changed, version, key, data, user_info, extra_info, operation
FROM {{activity}}
WHERE table_name = $1 AND key = $2::jsonb AND pg_catalog.jsonb_hash(key) = pg_catalog.jsonb_hash($2::jsonb)
  AND changed >= COALESCE($3::timestamptz, '-infinity'::timestamptz)
  AND changed <= COALESCE($4::timestamptz, 'infinity'::timestamptz)
  AND (changed, id) < (COALESCE($5::timestamptz, 'infinity'::timestamptz),
                       COALESCE($6::int8, 9223372036854775807))
  AND ($7::text[] IS NULL OR operation = ANY ($7::text[]))
  AND ($8::text IS NULL OR user_info ->> 'user_id' = $8::text)
ORDER BY changed DESC, id DESC
LIMIT $9
