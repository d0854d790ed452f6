-- The insert capture's version fix-up (capture.sql, partitioned activity table): the version
-- of the key's latest history row, from its head (written by the statement before this one).
-- Placeholders as in capture.sql.
CROSS JOIN LATERAL (
    SELECT h.row_version AS version FROM chrononaut.heads AS h
    WHERE h.table_name = {{table_name}} AND h.key = {{key_n}}
    LIMIT 1
) AS {{p}}
