-- The partitions of the activity table, oldest first and the DEFAULT partition last, with
-- their UTC ranges (NULL for DEFAULT) and exact row counts (one pass over the history,
-- grouped by partition, as `status` counts rows per table).
--   <activity>  the activity table, qualified and quoted; $1 the same name as text
-- Bounds are read back from the catalog's text of the bound, which PostgreSQL prints with
-- the session's settings and which therefore casts back to the same instants.
SELECT format('%I.%I', n.nspname, c.relname) AS name,
       b.bound = 'DEFAULT' AS is_default,
       (regexp_match(b.bound, E'FROM \\(''([^'']*)''\\) TO'))[1]::timestamptz AS range_start,
       (regexp_match(b.bound, E'TO \\(''([^'']*)''\\)'))[1]::timestamptz AS range_end,
       COALESCE(r.rows, 0)::int8 AS rows
FROM pg_catalog.pg_inherits AS i
JOIN pg_catalog.pg_class AS c ON c.oid = i.inhrelid
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
CROSS JOIN LATERAL (SELECT pg_catalog.pg_get_expr(c.relpartbound, c.oid) AS bound) AS b
LEFT JOIN (SELECT a.tableoid, count(*) AS rows FROM {{activity}} AS a GROUP BY a.tableoid) AS r
       ON r.tableoid = c.oid
WHERE i.inhparent = $1::text::regclass
ORDER BY is_default, range_start NULLS LAST, name
