-- The tracked tables' retention policies (tracked.keep_days, NULL: forever) and the time the
-- database says it is, for a prune by policy: the cut allowed is now minus the longest policy
-- (a partition holds every table's history, so it can go only when every table lets it).
SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) AS qualified,
       (pg_catalog.to_jsonb(t) OPERATOR(pg_catalog.->>) 'keep_days')::int4 AS keep_days,
       pg_catalog.now() AS now
FROM chrononaut.tracked AS t
JOIN pg_catalog.pg_class AS c ON c.oid = t.relid
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
ORDER BY 1
