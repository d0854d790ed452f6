-- A dry run's count of the checkpoints a prune with cut $1 writes: one per record with history
-- before the cut.
--   <activity>  the activity table, schema-qualified and quoted
SELECT count(*) FROM (SELECT DISTINCT a.table_name, a.key FROM {{activity}} AS a
                      WHERE a.changed < $1 AND pg_catalog.isfinite(a.changed)) AS k
