-- The digest of the history: per table_name, the number of rows with id <= $1 and sha256 over
-- their hashes in id order (a row without hash, e.g. written by the Python library,
-- contributes the hash of its content alone), so that any later change, deletion or insertion
-- among those rows changes the digest, whatever the chains say.
-- Lock events that releases before schema version 2 wrote into the activity table are counted
-- as the history rows they were, under their old id (chrononaut.lock_events.activity_id): a
-- digest taken before they moved still matches after. Lock events recorded since are not
-- covered by digests (verify checks their chains).
--   <activity>  the activity table, schema-qualified and quoted
-- $1: the highest id covered; $2: only this table_name (NULL: all).
SELECT h.table_name, pg_catalog.count(*)::int8 AS total,
       pg_catalog.encode(pg_catalog.sha256(pg_catalog.string_agg(
           COALESCE(h.hash, chrononaut.chain_hash(NULL, h.table_name, h.key, h.version, h.changed,
                                                  h.data, h.user_info, h.extra_info, h.operation)),
           ''::pg_catalog.bytea ORDER BY h.id)), 'hex') AS digest
FROM (SELECT a.id, a.table_name, a.key, a.version, a.changed, a.data, a.user_info, a.extra_info,
             a.operation, a.hash
      FROM {{activity}} AS a
      WHERE a.id <= $1::int8 AND ($2::text IS NULL OR a.table_name = $2::text)
      UNION ALL
      SELECT e.activity_id, e.table_name, e.key, e.version, e.changed, e.data, e.user_info,
             e.extra_info, e.operation, e.hash
      FROM chrononaut.lock_events AS e
      WHERE e.activity_id <= $1::int8 AND ($2::text IS NULL OR e.table_name = $2::text)) AS h
GROUP BY h.table_name
ORDER BY h.table_name
