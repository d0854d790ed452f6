-- The insert capture's version fix-up (capture.sql, activity table not partitioned): the
-- version of the key's latest history row, just written. One probe per inserted row, only for
-- statements that need a fix-up. Placeholders as in capture.sql.
CROSS JOIN LATERAL (
    SELECT a.version FROM {{activity}} AS a
    WHERE a.table_name = {{table_name}} AND a.key = {{key_n}} AND pg_catalog.jsonb_hash(a.key) = pg_catalog.jsonb_hash({{key_n}})
    ORDER BY a.table_name DESC, a.key DESC, a.changed DESC, a.version DESC LIMIT 1
) AS {{p}}
