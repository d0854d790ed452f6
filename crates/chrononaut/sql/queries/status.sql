-- Tracked tables with their options, history counts and whether their triggers are stale. $1: the activity table's schema.
-- History counts come from history_counts.sql in one pass.
SELECT format('%I.%I', n.nspname, c.relname) AS qualified,
       CASE WHEN n.nspname = 'public' THEN c.relname::text
            ELSE format('%I.%I', n.nspname, c.relname) END AS history_name,
       t.hidden, t.untracked, t.record_changes, t.strict, t.tracked_at,
       -- (absent before schema version 3)
       COALESCE((to_jsonb(t) ->> 'no_chain')::boolean, false) AS no_chain,
       -- (absent before the retention policies of schema version 5)
       (to_jsonb(t) ->> 'keep_days')::int4 AS keep_days,
       -- columns added, dropped or renamed since the triggers were made: the version trigger
       -- compares the columns it knew, so `track` must run again
       t.columns IS DISTINCT FROM ARRAY(
           SELECT a.attname::text FROM pg_catalog.pg_attribute a
           WHERE a.attrelid = t.relid AND a.attnum > 0 AND NOT a.attisdropped
           ORDER BY a.attnum) AS stale
FROM chrononaut.tracked t
JOIN pg_catalog.pg_class c ON c.oid = t.relid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
ORDER BY 1
