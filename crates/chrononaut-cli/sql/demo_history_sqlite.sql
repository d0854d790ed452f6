-- What the SQLite demo recorded: the history of demo_products, oldest first (the same
-- columns as sql/demo_history.sql; JSON as text). The file is the demo's own, so all of its
-- history is this run's.
SELECT version, operation, key, data, user_info, extra_info,
       json_remove(data, '$.version', '$.updated_at') AS shown,
       strftime('%H:%M:%f', changed) AS at
FROM chrononaut_activity
WHERE table_name = 'demo_products'
ORDER BY changed, version, id
