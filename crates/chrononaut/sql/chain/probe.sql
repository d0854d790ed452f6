-- The hash chain's look-up of a record's latest history row (its hash becomes the new row's
-- prev_hash): one backward probe of ix_chrononaut_activity_table_key_changed per written row.
-- Spliced by src/capture.rs into the update and delete captures of chained tables (tables
-- tracked with --no-chain get nothing here). Placeholders as in capture.sql.
LEFT JOIN LATERAL (
    SELECT a.hash FROM {{activity}} AS a
    WHERE a.table_name = {{table_name}} AND a.key = {{s}}.key AND pg_catalog.jsonb_hash(a.key) = pg_catalog.jsonb_hash({{s}}.key)
    ORDER BY a.table_name DESC, a.key DESC, a.changed DESC, a.version DESC LIMIT 1
) AS {{p}} ON true
