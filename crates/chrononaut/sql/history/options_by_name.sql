-- The hidden and untracked columns of every tracked table, by history table_name (the bare
-- name for a table in public, schema.table otherwise, as the capture writes it), for reads
-- that span tables. record_changes: its columns (change_info, changed) count as untracked.
SELECT CASE WHEN n.nspname = 'public' THEN c.relname::text
            ELSE pg_catalog.format('%I.%I', n.nspname, c.relname) END AS history_name,
       t.hidden, t.untracked, t.record_changes
FROM chrononaut.tracked AS t
JOIN pg_catalog.pg_class AS c ON c.oid = t.relid
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
