-- Version $3 of one record ($1 table_name, $2 key). When history written by the Python
-- library repeats the number (a re-insert restarted at 0), the latest such row wins.
--   <activity>  the activity table, schema-qualified and quoted
SELECT id, table_name, changed, version, key, data, user_info, extra_info, operation
FROM {{activity}}
WHERE table_name = $1 AND key = $2 AND version = $3
ORDER BY changed DESC, version DESC, id DESC
LIMIT 1
