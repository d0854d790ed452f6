-- The time span of the whole history, for the windowed walk of a user filter across tables
-- (activity.rs, fn activity): `newest` the largest and `oldest` the smallest `changed` of
-- any table's history rows (both NULL when there is no history).
--   <activity>  the activity table, schema-qualified and quoted
-- The distinct table_names by the skip scan of activity_all.sql, then per table one probe of
-- each end of ix_chrononaut_activity_table_changed (table_name, changed, id): 3 probes per
-- table, whatever the history's size. `id IS NOT NULL` is the index's predicate (see
-- activity_all.sql).
WITH RECURSIVE names (table_name) AS (
    (SELECT a.table_name FROM {{activity}} AS a WHERE a.id IS NOT NULL
     ORDER BY a.table_name LIMIT 1)
    UNION ALL
    SELECT (SELECT a.table_name FROM {{activity}} AS a
            WHERE a.table_name > n.table_name AND a.id IS NOT NULL
            ORDER BY a.table_name LIMIT 1)
    FROM names AS n
    WHERE n.table_name IS NOT NULL
)
SELECT max(hi.changed) AS newest, min(lo.changed) AS oldest
FROM names AS n
CROSS JOIN LATERAL (
    SELECT a.changed FROM {{activity}} AS a
    WHERE a.table_name = n.table_name AND a.id IS NOT NULL
    ORDER BY a.changed DESC, a.id DESC
    LIMIT 1
) AS hi
CROSS JOIN LATERAL (
    SELECT a.changed FROM {{activity}} AS a
    WHERE a.table_name = n.table_name AND a.id IS NOT NULL
    ORDER BY a.changed, a.id
    LIMIT 1
) AS lo
WHERE n.table_name IS NOT NULL
