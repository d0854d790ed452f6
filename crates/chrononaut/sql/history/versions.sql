-- The versions of one record, oldest first (or newest first), optionally between two times.
--   <activity>  the activity table, schema-qualified and quoted
--   <dir>       ASC or DESC
--   $1 table_name, $2 key (jsonb), $3 before (changed <= $3, NULL: no bound),
--   $4 after (changed >= $4, NULL: no bound), $5 limit (NULL: all)
-- Ordered by (changed, version, id): history written by the Python library may repeat version
-- numbers after a re-insert, and its `changed` comes from the application's clock.
-- Served by ix_chrononaut_activity_table_key_changed (table_name, key, changed, version): the
-- bounds are written with COALESCE so that they stay index conditions in a generic plan.
SELECT id, table_name, changed, version, key, data, user_info, extra_info, operation
FROM {{activity}}
WHERE table_name = $1 AND key = $2
  AND changed <= COALESCE($3::timestamptz, 'infinity'::timestamptz)
  AND changed >= COALESCE($4::timestamptz, '-infinity'::timestamptz)
ORDER BY changed {{dir}}, version {{dir}}, id {{dir}}
LIMIT $5
