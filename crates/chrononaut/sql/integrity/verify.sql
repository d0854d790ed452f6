-- Verifies the hash chains of the history of one table_name ($1) or of every table ($1 NULL).
--   <activity>  the activity table, schema-qualified and quoted
--
-- Each record's rows are taken in history order (changed, version, id); for each row:
--   edited        its hash is not sha256(prev_hash || its content): the row was changed
--   missing       its prev_hash is the hash of no row of the record: the row before it was
--                 deleted (or rewritten together with its hash)
--   out_of_order  its prev_hash is the hash of another row of the record than the one before
--                 it (or it starts a chain although rows precede it): rows were inserted or
--                 reordered before it
--   hash_removed  it has no hash although rows before it have one: inserted by hand, or its
--                 hash was removed
-- Rows without hash before the record's first chained row (written by the Python library, a
-- legacy conversion or a baseline) are counted as unchained, not reported.
-- One pass over the table's history in index order plus one sha256 per chained row; the
-- look-up that classifies a broken link runs only for broken rows.
WITH r AS (
    SELECT a.id, a.table_name, a.key, a.version, a.changed, a.hash, a.prev_hash,
           pg_catalog.lag(a.hash) OVER w AS pred_hash,
           pg_catalog.count(*) OVER w AS pos,
           pg_catalog.count(a.hash) OVER w AS chained_so_far,
           CASE WHEN a.hash IS NOT NULL
                THEN chrononaut.chain_hash(a.prev_hash, a.table_name, a.key, a.version, a.changed,
                                           a.data, a.user_info, a.extra_info, a.operation)
           END AS recomputed
    FROM {{activity}} AS a
    WHERE $1::text IS NULL OR a.table_name = $1::text
    WINDOW w AS (PARTITION BY a.table_name, a.key ORDER BY a.changed, a.version, a.id
                 ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
), bad AS (
    SELECT r.*,
           CASE
               WHEN r.hash IS NULL THEN 'hash_removed'
               WHEN r.recomputed IS DISTINCT FROM r.hash THEN 'edited'
               WHEN r.prev_hash IS NULL THEN 'out_of_order'
               WHEN EXISTS (SELECT 1 FROM {{activity}} AS b
                            WHERE b.table_name = r.table_name AND b.key = r.key
                              AND b.hash = r.prev_hash) THEN 'out_of_order'
               ELSE 'missing'
           END AS kind
    FROM r
    WHERE (r.hash IS NULL AND r.chained_so_far > 0)
       OR (r.hash IS NOT NULL AND (r.recomputed IS DISTINCT FROM r.hash
                                   OR r.prev_hash IS DISTINCT FROM r.pred_hash))
), totals AS (
    SELECT r.table_name, pg_catalog.count(*) AS total, pg_catalog.count(r.hash) AS chained
    FROM r
    GROUP BY r.table_name
)
SELECT t.table_name, t.total::int8 AS total, t.chained::int8 AS chained,
       COALESCE((SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                            'id', b.id, 'key', b.key, 'version', b.version, 'kind', b.kind,
                            'changed', b.changed) ORDER BY b.key, b.changed, b.version, b.id)
                 FROM bad AS b WHERE b.table_name = t.table_name), '[]'::jsonb) AS issues
FROM totals AS t
ORDER BY t.table_name
