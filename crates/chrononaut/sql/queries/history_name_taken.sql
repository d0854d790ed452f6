-- Another tracked table ($1: the table being tracked, oid) whose history is written under
-- table_name $2: the one recorded when it was tracked, or (tracked by an older chrononaut)
-- the one its current name gives. Its name, or no row.
SELECT pg_catalog.format('%I.%I', n.nspname, c.relname)
FROM chrononaut.tracked AS t
JOIN pg_catalog.pg_class AS c ON c.oid = t.relid
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
WHERE t.relid <> $1::int8::oid
  AND COALESCE(t.history_name,
               CASE WHEN n.nspname = 'public' THEN c.relname::pg_catalog.text
                    ELSE pg_catalog.format('%I.%I', n.nspname, c.relname) END) = $2
LIMIT 1
