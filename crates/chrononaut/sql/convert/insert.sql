-- Writes the converted history of the selected records (rows.sql) to the activity table, in
-- one statement, and reports what it did. A version that the activity table already has for
-- the record (converted by an earlier pass, or written by the triggers) is skipped, so running
-- a conversion again, or an update pass over records converted before, writes no duplicate.
-- The lookup is one index probe per row: OFFSET 0 keeps the planner from turning it into a
-- hash anti-join, which would read every history row of the table on every chunk (the
-- activity table grows during a conversion, faster than its statistics, so the planner
-- underestimates that set) and make a chunked conversion quadratic.
--   <rows>        rows.sql, filled
--   <activity>    the activity table, qualified and quoted
--   <table_name>  the history table_name as a literal
WITH cn_rows AS MATERIALIZED (
{{rows}}
), cn_new AS (
    INSERT INTO {{activity}} (table_name, changed, version, key, data, user_info, extra_info, operation)
    SELECT {{table_name}}, r.changed, r.version, r.key, r.data, r.user_info, r.extra_info, r.operation
    FROM cn_rows AS r
    WHERE NOT r.inconsistent
      AND NOT EXISTS (SELECT 1 FROM {{activity}} AS a
                      WHERE a.key = r.key AND pg_catalog.jsonb_hash(a.key) = pg_catalog.jsonb_hash(r.key) AND a.table_name = {{table_name}} AND a.version = r.version
                      OFFSET 0)
    RETURNING 1
)
SELECT (SELECT count(*) FROM cn_new)::int8 AS written,
       (SELECT count(*) FROM cn_rows WHERE NOT inconsistent)::int8 AS candidates,
       (SELECT count(DISTINCT key) FROM cn_rows)::int8 AS objects,
       (SELECT count(*) FROM cn_rows WHERE inconsistent)::int8 AS inconsistent,
       (SELECT jsonb_agg(x.key) FROM (SELECT r.key FROM cn_rows AS r
                                      WHERE r.inconsistent ORDER BY r.key LIMIT 5) AS x) AS inconsistent_keys
