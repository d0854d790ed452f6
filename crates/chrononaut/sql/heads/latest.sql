-- The hash chain's look-up of a record's latest history row for the update and delete
-- captures (capture.sql, capture_delete_rows.sql) when the activity table is partitioned: from
-- the record's head (heads/install.sql), one probe of chrononaut.heads' primary key per written
-- row, instead of chain/probe.sql's probe of the history index, which on a partitioned table
-- opens and searches every partition. Placeholders as in capture.sql.
LEFT JOIN LATERAL (
    SELECT h.hash FROM chrononaut.heads AS h
    WHERE h.table_name = {{table_name}} AND h.key = {{s}}.key
    LIMIT 1
) AS {{p}} ON true
