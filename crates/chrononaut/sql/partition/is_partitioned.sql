-- Whether the activity table ($1: its qualified, quoted name) is a partitioned table, and
-- whether it exists at all (NULL when it does not).
SELECT c.relkind = 'p'
FROM pg_catalog.pg_class AS c
WHERE c.oid = pg_catalog.to_regclass($1)
