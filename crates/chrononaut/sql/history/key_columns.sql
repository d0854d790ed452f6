-- The primary-key columns of table $1 (oid) in key order, without `version` (as the history
-- `key` holds them), with how their JSON form must be written to match the capture functions:
--   naive_ts: `timestamp without time zone`, recorded as UTC with "+00:00"
--   zoned_ts: `timestamp with time zone`, recorded in UTC
SELECT a.attname::text AS name,
       COALESCE(NULLIF(t.typbasetype, 0), t.oid) = 'timestamp'::regtype::oid AS naive_ts,
       COALESCE(NULLIF(t.typbasetype, 0), t.oid) = 'timestamptz'::regtype::oid AS zoned_ts
FROM pg_catalog.pg_index i
CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
WHERE i.indrelid = $1::int8::oid AND i.indisprimary AND a.attname <> 'version'
ORDER BY k.ord
