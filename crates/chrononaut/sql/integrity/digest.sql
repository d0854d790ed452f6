-- The digest of the history: per table_name, the number of rows with id <= $1 and sha256 over
-- their hashes in id order (a row without hash, e.g. written by the Python library,
-- contributes the hash of its content alone), so that any later change, deletion or insertion
-- among those rows changes the digest, whatever the chains say.
--   <activity>  the activity table, schema-qualified and quoted
-- $1: the highest id covered; $2: only this table_name (NULL: all).
SELECT a.table_name, pg_catalog.count(*)::int8 AS total,
       pg_catalog.encode(pg_catalog.sha256(pg_catalog.string_agg(
           COALESCE(a.hash, chrononaut.chain_hash(NULL, a.table_name, a.key, a.version, a.changed,
                                                  a.data, a.user_info, a.extra_info, a.operation)),
           '\x'::bytea ORDER BY a.id)), 'hex') AS digest
FROM {{activity}} AS a
WHERE a.id <= $1::int8 AND ($2::text IS NULL OR a.table_name = $2::text)
GROUP BY a.table_name
ORDER BY a.table_name
