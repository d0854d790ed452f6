-- The records an update pass (`--update-from T`) converts again, in id order (text form):
--   * records with legacy rows written after $1 (T): changed since the earlier conversion;
--   * current rows without any history row: records created since;
--   * legacy records after the last converted id $2 (NULL: all): left by an unfinished pass.
-- Their whole history is rebuilt; insert.sql writes only the versions that are missing.
--   <table> <legacy> <id>  as in next_ids.sql;  <table_joins>  the parent tables (--join)
--   <activity>  the activity table;  <table_name>  the history table_name as a literal
--   <key_t>  the history key built from the current row;  <after_h>  as in next_ids.sql
SELECT cn.id::text FROM (
    SELECT cn_h.{{id}} AS id FROM {{legacy}} AS cn_h WHERE cn_h.changed > $1::timestamptz
    UNION
    SELECT cn_t.{{id}} FROM {{table}} AS cn_t {{table_joins}}
    WHERE NOT EXISTS (SELECT 1 FROM {{activity}} AS a
                      WHERE a.key = {{key_t}} AND pg_catalog.jsonb_hash(a.key) = pg_catalog.jsonb_hash({{key_t}}) AND a.table_name = {{table_name}})
    UNION
    SELECT cn_h.{{id}} FROM {{legacy}} AS cn_h WHERE {{after_h}}
) AS cn
WHERE cn.id IS NOT NULL
ORDER BY cn.id
