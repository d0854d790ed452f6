-- The insert capture's look-up of a key's history (capture.sql, activity table not
-- partitioned): its latest row's hash (the new row's prev_hash) and, when the key has history
-- (deleted earlier, now inserted again), its next version (highest + 1; 0 for a new key).
-- One backward probe of ix_chrononaut_activity_table_key_changed per inserted row, a second
-- one only for keys that have history. Placeholders as in capture.sql.
LEFT JOIN LATERAL (
    SELECT true AS found, a.hash FROM {{activity}} AS a
    WHERE a.table_name = {{table_name}} AND a.key = {{key_n}} AND pg_catalog.jsonb_hash(a.key) = pg_catalog.jsonb_hash({{key_n}})
    ORDER BY a.table_name DESC, a.key DESC, a.changed DESC, a.version DESC LIMIT 1
) AS {{p}} ON true
CROSS JOIN LATERAL (
    SELECT CASE WHEN {{p}}.found IS NULL THEN 0
                ELSE (SELECT max(a.version) + 1 FROM {{activity}} AS a
                      WHERE a.table_name = {{table_name}} AND a.key = {{key_n}} AND pg_catalog.jsonb_hash(a.key) = pg_catalog.jsonb_hash({{key_n}})) END AS version
) AS {{v}}
