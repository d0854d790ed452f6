-- What insert.sql would write, without writing (`--dry-run`): the same counts, and a sample
-- of the rows in the activity table's shape.
--   <rows> <activity> <table_name>  as in insert.sql;  <sample>  the number of sample rows
WITH cn_rows AS MATERIALIZED (
{{rows}}
), cn_new AS (
    SELECT r.* FROM cn_rows AS r
    WHERE NOT r.inconsistent
      AND NOT EXISTS (SELECT 1 FROM {{activity}} AS a
                      WHERE a.key = r.key AND pg_catalog.jsonb_hash(a.key) = pg_catalog.jsonb_hash(r.key) AND a.table_name = {{table_name}} AND a.version = r.version
                      OFFSET 0)
)
SELECT (SELECT count(*) FROM cn_new)::int8 AS written,
       (SELECT count(*) FROM cn_rows WHERE NOT inconsistent)::int8 AS candidates,
       (SELECT count(DISTINCT key) FROM cn_rows)::int8 AS objects,
       (SELECT count(*) FROM cn_rows WHERE inconsistent)::int8 AS inconsistent,
       (SELECT jsonb_agg(x.key) FROM (SELECT r.key FROM cn_rows AS r
                                      WHERE r.inconsistent ORDER BY r.key LIMIT 5) AS x) AS inconsistent_keys,
       (SELECT jsonb_agg(s) FROM (
            SELECT {{table_name}} AS table_name, n.changed, n.version, n.key, n.data,
                   n.user_info, n.extra_info, n.operation
            FROM cn_new AS n ORDER BY n.key, n.version LIMIT {{sample}}) AS s) AS sample
