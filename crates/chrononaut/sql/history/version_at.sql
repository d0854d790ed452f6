-- The version of one record ($1 table_name, $2 key) in force at $3: the latest with
-- changed <= $3; no row before the first version. $4 skips that many (1: the one before).
-- A backward scan of ix_chrononaut_activity_table_key_changed that stops after one row.
--   <activity>  the activity table, schema-qualified and quoted
SELECT id, table_name, changed, version, key, data, user_info, extra_info, operation
FROM {{activity}}
WHERE table_name = $1 AND key = $2 AND changed <= $3
ORDER BY changed DESC, version DESC, id DESC
LIMIT 1 OFFSET $4
