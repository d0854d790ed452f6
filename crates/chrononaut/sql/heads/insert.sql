-- The insert capture's look-up of a key's head (capture.sql, partitioned activity table; see
-- heads/install.sql): the hash of its latest history row and its next version (highest + 1;
-- 0 for a key without history). One probe of chrononaut.heads' primary key per inserted row,
-- whatever the number of partitions. `LIMIT 1` keeps it a per-row probe: without it the
-- planner may turn the look-up into a join that reads every head of the table.
-- Placeholders as in capture.sql.
LEFT JOIN LATERAL (
    SELECT h.version + 1 AS next, h.hash FROM chrononaut.heads AS h
    WHERE h.table_name = {{table_name}} AND h.key = {{key_n}}
    LIMIT 1
) AS {{p}} ON true
CROSS JOIN LATERAL (SELECT COALESCE({{p}}.next, 0) AS version) AS {{v}}
