-- Every record of a table as it was at $2: per key, the latest version recorded at or before
-- $2, unless that version is a deletion. Keys whose first version is later are absent.
--   <activity>  the activity table, schema-qualified and quoted
--   $1 table_name, $2 the time
-- O(records x log(history)), whatever the number of versions per record:
--   keys: a skip scan of the table's distinct keys, newest key first, in
--         ix_chrononaut_activity_table_key_changed (table_name, key, changed, version): each
--         step is one index probe for the greatest (table_name, key) below the previous one
--         (written as a row comparison so that only this index can serve it; the first step
--         starts at table_name <= $1 for the same reason, and the walk stops at the first key
--         of another table). Keys come from the history, not from the live table, so records
--         deleted since are found too.
--   then per key one backward probe of the same index for its latest version at or before
--   $2 (as version_at.sql; `id` breaks ties of (changed, version)).
-- Only versions are in the activity table (lock events moved to chrononaut.lock_events in
-- schema version 2). History written by the Python library has no `operation`: its deletions
-- cannot be told apart, and such deleted records show with their last state.
-- Rows come in descending key order.
WITH RECURSIVE keys (table_name, key) AS (
    (SELECT a.table_name, a.key
     FROM {{activity}} AS a
     WHERE a.table_name <= $1
     ORDER BY a.table_name DESC, a.key DESC
     LIMIT 1)
    UNION ALL
    SELECT n.table_name, n.key
    FROM keys AS k
    CROSS JOIN LATERAL (
        SELECT a.table_name, a.key
        FROM {{activity}} AS a
        WHERE (a.table_name, a.key) < (k.table_name, k.key)
        ORDER BY a.table_name DESC, a.key DESC
        LIMIT 1
    ) AS n
    WHERE k.table_name = $1
)
SELECT h.key, h.version, h.changed, h.data
FROM keys AS k
CROSS JOIN LATERAL (
    SELECT a.key, a.version, a.changed, a.data, a.operation
    FROM {{activity}} AS a
    WHERE a.table_name = $1 AND a.key = k.key AND a.changed <= $2
    ORDER BY a.changed DESC, a.version DESC, a.id DESC
    LIMIT 1
) AS h
WHERE k.table_name = $1
  AND h.operation IS DISTINCT FROM 'delete'
