-- Locks as the library returns them, from {{source}}: chrononaut.locks (listing), or the row
-- that chrononaut.lock(...) / chrononaut.unlock(...) returned.
--   <source>  a relation or function call with the columns of chrononaut.locks
-- $1: only locks of this table (oid; NULL: all) when listing.
SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) AS qualified,
       l.table_name, l.key, l.locked_by, l.user_id, l.reason, l.locked_at
FROM {{source}} AS l
JOIN pg_catalog.pg_class c ON c.oid = l.relid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
ORDER BY l.table_name, l.key NULLS FIRST
