-- The columns of table $1 (oid) as a restore needs them: whether a value can be written
-- (generated columns cannot), and whether a row can be inserted without one.
SELECT a.attname::text AS name,
       a.attgenerated <> '' AS generated,
       a.attidentity <> '' AS identity,
       a.attnotnull AND NOT a.atthasdef AND a.attidentity = '' AND a.attgenerated = '' AS required
FROM pg_catalog.pg_attribute a
WHERE a.attrelid = $1::int8::oid AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
