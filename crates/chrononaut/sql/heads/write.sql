-- Spliced right after the history INSERT of every capture statement when the activity table is
-- partitioned (capture.sql, capture_delete_rows.sql): the INSERT returns what it wrote, and the
-- next CTE moves each written record's head to it (heads/install.sql). The arbiter of
-- ON CONFLICT is a probe of chrononaut.heads' primary key per row, whatever the planner
-- settings. A statement writes at most one history row per key (keys are the rows' primary
-- keys), so no head is updated twice by one statement.
-- A head moves only forward in (changed, version) order, as the history is read; its
-- `version` is the highest the record has had (re-inserts continue after it).
-- Placeholders as in capture.sql; <h> is a CTE name.
        RETURNING key, version, changed, hash
    ), {{h}} AS (
        INSERT INTO chrononaut.heads AS h (table_name, key, version, changed, row_version, hash)
        SELECT {{table_name}}, {{w}}.key, {{w}}.version, {{w}}.changed, {{w}}.version, {{w}}.hash
        FROM {{w}}
        ON CONFLICT (table_name, key) DO UPDATE SET
            version = GREATEST(h.version, EXCLUDED.version),
            changed = CASE WHEN (EXCLUDED.changed, EXCLUDED.row_version) >= (h.changed, h.row_version)
                           THEN EXCLUDED.changed ELSE h.changed END,
            row_version = CASE WHEN (EXCLUDED.changed, EXCLUDED.row_version) >= (h.changed, h.row_version)
                               THEN EXCLUDED.row_version ELSE h.row_version END,
            hash = CASE WHEN (EXCLUDED.changed, EXCLUDED.row_version) >= (h.changed, h.row_version)
                        THEN EXCLUDED.hash ELSE h.hash END
