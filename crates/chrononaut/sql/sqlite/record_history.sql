-- The versions of one record on SQLite (src/backend/sqlite.rs), a range of
-- ix_chrononaut_activity_table_key_changed.
--   ?1 table_name, ?2 key (the text the capture triggers write), ?3 changed <= ?3 (NULL: no
--   bound), ?4 changed >= ?4 (NULL: no bound), ?5 only version ?5 (NULL: all), ?6 newest
--   first, ?7 limit (NULL: all), ?8 skip. Ordered by (changed, version, id).
SELECT id, table_name, changed, version, key, data, user_info, extra_info, operation
FROM chrononaut_activity
WHERE table_name = ?1 AND key = ?2
  AND (?3 IS NULL OR changed <= ?3)
  AND (?4 IS NULL OR changed >= ?4)
  AND (?5 IS NULL OR version = ?5)
ORDER BY CASE WHEN ?6 THEN changed END DESC, CASE WHEN ?6 THEN version END DESC,
         CASE WHEN ?6 THEN id END DESC,
         changed, version, id
LIMIT coalesce(?7, -1) OFFSET ?8
