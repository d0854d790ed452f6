-- The newest history rows of one table on SQLite, newest first.
--   ?1 table_name, ?2 changed <= ?2 (NULL: no bound), ?3 limit.
SELECT id, table_name, changed, version, key, data, user_info, extra_info, operation
FROM chrononaut_activity
WHERE table_name = ?1 AND (?2 IS NULL OR changed <= ?2)
ORDER BY changed DESC, id DESC
LIMIT ?3
