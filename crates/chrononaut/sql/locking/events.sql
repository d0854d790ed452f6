-- Lock and unlock events (chrononaut.lock_events) of one table ($1, the history table_name),
-- newest first: of one record ($2, its history key; NULL: of every record and of the whole
-- table), at most $3. Served by lock_events_record (table_name, key, changed).
SELECT e.id, e.table_name, e.key, e.version, e.changed, e.operation, e.user_info, e.extra_info
FROM chrononaut.lock_events AS e
WHERE e.table_name = $1::text AND ($2::jsonb IS NULL OR e.key = $2::jsonb)
ORDER BY e.changed DESC, e.id DESC
LIMIT $3::int8
