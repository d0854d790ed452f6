-- Columns and types of an existing chrononaut_activity table in schema $1 (to check that a
-- table created by someone else, e.g. the Python library, can be adopted).
SELECT a.attname::text AS name, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type_name
FROM pg_catalog.pg_attribute a
WHERE a.attrelid = pg_catalog.to_regclass(pg_catalog.quote_ident($1) || '.chrononaut_activity')
  AND a.attnum > 0 AND NOT a.attisdropped
