-- Recent activity of every table with history, newest first: one page of at most $6 history
-- rows ordered by (changed DESC, id DESC), with the bounds, cursor and operation filter of
-- activity_table.sql:
--   <activity>  the activity table, schema-qualified and quoted
--   $1 after, $2 before, $3, $4 the cursor (changed, id), $5 operations (text[] or NULL),
--   $6 the page size;
--   <user_filter>  empty, or activity_user_all.sql (user_info->>'user_id' = $7) when a user
--   is given (only then is $7 bound), as in activity_table.sql. With a user, activity.rs
--   (user_walk) runs this in doubling time windows ($1 and the cursor $3, $4 bound to each
--   window), so that the per-table probes stop at the window instead of at $6 matches each.
-- No index of its own (one leading with `changed` would cost every history write): a merge
-- of per-table probes of ix_chrononaut_activity_table_changed (table_name, changed, id).
--   names: the distinct table_names, by a skip scan of the same index (one probe per table,
--          whatever its history's size; tables that are no longer tracked and history that
--          the Python library wrote included);
--   page:  per table, its newest $6 (changed, id) past the cursor (a backward range scan that
--          stops after $6), then the newest $6 of those: tables x $6 index entries;
--   then the page's rows by primary key.
-- `id IS NOT NULL` (true of every row) is the index's predicate: it lets these probes use the
-- partial index (see install.sql).
-- The cost grows with the number of tables that have history, not with its size.
WITH RECURSIVE names (table_name) AS (
    (SELECT a.table_name FROM {{activity}} AS a WHERE a.id IS NOT NULL
     ORDER BY a.table_name LIMIT 1)
    UNION ALL
    SELECT (SELECT a.table_name FROM {{activity}} AS a
            WHERE a.table_name > n.table_name AND a.id IS NOT NULL
            ORDER BY a.table_name LIMIT 1)
    FROM names AS n
    WHERE n.table_name IS NOT NULL
), page AS (
    SELECT p.id, p.changed
    FROM names AS n
    CROSS JOIN LATERAL (
        SELECT a.id, a.changed
        FROM {{activity}} AS a
        WHERE a.table_name = n.table_name AND a.id IS NOT NULL
          AND a.changed >= COALESCE($1::timestamptz, '-infinity'::timestamptz)
          AND a.changed <= COALESCE($2::timestamptz, 'infinity'::timestamptz)
          AND (a.changed, a.id) < (COALESCE($3::timestamptz, 'infinity'::timestamptz),
                                   COALESCE($4::int8, 9223372036854775807))
          AND ($5::text[] IS NULL OR a.operation = ANY ($5::text[]))
          {{user_filter}}
        ORDER BY a.changed DESC, a.id DESC
        LIMIT $6
    ) AS p
    WHERE n.table_name IS NOT NULL
    ORDER BY p.changed DESC, p.id DESC
    LIMIT $6
)
SELECT a.id, a.table_name, a.changed, a.version, a.key, a.data, a.user_info, a.extra_info,
       a.operation
FROM page AS p
JOIN {{activity}} AS a ON a.id = p.id
ORDER BY p.changed DESC, p.id DESC
