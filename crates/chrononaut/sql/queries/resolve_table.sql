-- Resolves a table name as SQL would ($1: `schema.table`, `"Mixed Case"`, ...), falling back
-- to the name taken literally ($2 = $1 quoted as one identifier), and describes the table.
-- Returns no row when neither names a relation.
SELECT c.oid::int8 AS oid,
       n.nspname::text AS schema_name,
       c.relname::text AS table_name,
       c.relkind::text AS relkind,
       format('%I.%I', n.nspname, c.relname) AS qualified,
       CASE WHEN n.nspname = 'public' THEN c.relname::text
            ELSE format('%I.%I', n.nspname, c.relname) END AS history_name
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid = COALESCE(pg_catalog.to_regclass($1), pg_catalog.to_regclass($2))
