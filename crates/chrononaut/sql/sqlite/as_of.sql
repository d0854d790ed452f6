-- Every record of a table as it was at ?2, on SQLite: per key, the latest version recorded
-- at or before ?2, unless it is a deletion. The keys come from a skip scan of
-- ix_chrononaut_activity_table_key_changed (one seek per distinct key), each key's version
-- from one probe of it: O(records x log(history)), whatever the versions per record.
--   ?1 table_name, ?2 the time (ISO-8601 UTC text, as the history holds it).
WITH RECURSIVE keys (k) AS (
    SELECT (SELECT min(a.key) FROM chrononaut_activity AS a WHERE a.table_name = ?1)
    UNION ALL
    SELECT (SELECT min(a.key) FROM chrononaut_activity AS a
            WHERE a.table_name = ?1 AND a.key > keys.k)
    FROM keys
    WHERE keys.k IS NOT NULL
)
SELECT v.key, v.version, v.changed, v.data
FROM keys
JOIN chrononaut_activity AS v ON v.id = (
    SELECT b.id FROM chrononaut_activity AS b
    WHERE b.table_name = ?1 AND b.key = keys.k AND b.changed <= ?2
    ORDER BY b.changed DESC, b.version DESC, b.id DESC
    LIMIT 1)
WHERE keys.k IS NOT NULL AND v.operation IS NOT 'delete'
ORDER BY v.key DESC
