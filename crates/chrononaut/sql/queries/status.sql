-- Tracked tables with their options and history counts. $1: the activity table's schema.
-- History counts come from history_counts.sql in one pass.
SELECT format('%I.%I', n.nspname, c.relname) AS qualified,
       CASE WHEN n.nspname = 'public' THEN c.relname::text
            ELSE format('%I.%I', n.nspname, c.relname) END AS history_name,
       t.hidden, t.untracked, t.record_changes, t.strict, t.tracked_at
FROM chrononaut.tracked t
JOIN pg_catalog.pg_class c ON c.oid = t.relid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
ORDER BY 1
