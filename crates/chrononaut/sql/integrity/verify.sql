-- Verifies the hash chains of the history of one table_name ($1) or of every table ($1 NULL).
--   <activity>  the activity table, schema-qualified and quoted
--   <prunes>    chrononaut.prunes, or an empty relation of its shape on schemas without it
--
-- Each record has two chains:
--   versions     its rows of the activity table in history order (changed, version, id).
--                Releases before schema version 2 wrote lock events among them; those rows
--                are now in chrononaut.lock_events (with activity_id, see
--                sql/locking/functions.sql) and are walked in their old place (id =
--                activity_id). A version written after the move has the version before it as
--                prev_hash (the capture reads only the activity table): that link is as good
--                when only moved lock events lie between the two.
--   lock events  its chrononaut.lock_events recorded since, in order (changed, id).
-- For each row of a chain:
--   edited        its hash is not sha256(prev_hash || its content): the row was changed
--   missing       its prev_hash is the hash of no row of the chain: the row before it was
--                 deleted (or rewritten together with its hash)
--   out_of_order  its prev_hash is the hash of another row of the chain than the one before
--                 it (or it starts a chain although rows precede it): rows were inserted or
--                 reordered before it
--   hash_removed  it has no hash although rows before it have one: inserted by hand, or its
--                 hash was removed
-- Rows without hash before the chain's first chained row (written by the Python library, a
-- legacy conversion or a baseline) are counted as unchained, not reported; so are all rows
-- without hash of a table tracked with --no-chain (whose capture writes none: `no_chain` in
-- the result), which verify cannot vouch for.
-- One pass over the table's history in index order plus one sha256 per chained row; records
-- with moved lock events are walked a second time with them (from the first pass, in memory);
-- the look-up that classifies a broken link reads only rows whose hash a broken row names.
-- Runs as the caller: operators it compares with are qualified, so that one the caller puts
-- first on its search_path cannot change what is compared.
WITH off AS MATERIALIZED (
    -- the history names of tables tracked without a hash chain (read through to_jsonb: the
    -- columns are absent before schema versions 2 and 3, whose history verify still reads)
    SELECT pg_catalog.to_jsonb(t) OPERATOR(pg_catalog.->>) 'history_name' AS history_name
    FROM chrononaut.tracked AS t
    WHERE pg_catalog.to_jsonb(t) OPERATOR(pg_catalog.->>) 'no_chain' OPERATOR(pg_catalog.=) 'true'
), r0 AS (
    SELECT a.id, a.table_name, a.key, a.version, a.changed, a.data, a.user_info, a.extra_info,
           a.operation, a.hash, a.prev_hash,
           pg_catalog.row_number() OVER w AS pos,
           pg_catalog.lag(a.hash) OVER w AS lag_hash,
           pg_catalog.count(a.hash) OVER w AS chained_so_far
    FROM {{activity}} AS a
    WHERE $1::text IS NULL OR a.table_name OPERATOR(pg_catalog.=) $1::text
    WINDOW w AS (PARTITION BY a.table_name, a.key ORDER BY a.changed, a.version, a.id
                 ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
), r AS (
    -- A checkpoint (sql/prune/functions.sql: a record's latest row before a prune's cut,
    -- carried to the cut) is hashed as the row it was: its own time and extra info are in
    -- extra_info.chrononaut_checkpoint. The first row of its record's chain, it links to the
    -- pruned row before it, which verify cannot see: its prev_hash is taken as it is. Only a
    -- record's first row, at the cut of the recorded prune it names, is read so: anywhere else
    -- (a client's own extra info may hold the key) the row is hashed as it stands.
    SELECT x.id, x.table_name, x.key, x.version, x.changed, x.operation, x.hash, x.prev_hash,
           CASE WHEN x.checkpoint THEN x.prev_hash ELSE x.lag_hash END AS pred_hash,
           x.chained_so_far,
           CASE WHEN x.hash IS NULL THEN NULL
                WHEN x.checkpoint
                THEN chrononaut.chain_hash(
                         x.prev_hash, x.table_name, x.key, x.version,
                         (x.extra_info OPERATOR(pg_catalog.->) 'chrononaut_checkpoint'
                                       OPERATOR(pg_catalog.->>) 'changed')::pg_catalog.timestamptz,
                         x.data, x.user_info,
                         x.extra_info OPERATOR(pg_catalog.-) 'chrononaut_checkpoint'::pg_catalog.text,
                         x.operation)
                ELSE chrononaut.chain_hash(x.prev_hash, x.table_name, x.key, x.version, x.changed,
                                           x.data, x.user_info, x.extra_info, x.operation)
           END AS recomputed
    FROM (SELECT r0.*,
                 (r0.pos OPERATOR(pg_catalog.=) 1
                  AND r0.extra_info OPERATOR(pg_catalog.?) 'chrononaut_checkpoint'
                  AND EXISTS (SELECT 1 FROM {{prunes}} AS p
                              WHERE p.id::pg_catalog.text OPERATOR(pg_catalog.=)
                                        (r0.extra_info OPERATOR(pg_catalog.->) 'chrononaut_checkpoint'
                                                       OPERATOR(pg_catalog.->>) 'prune')
                                AND p.cut OPERATOR(pg_catalog.=) r0.changed)) AS checkpoint
          FROM r0) AS x
), moved AS MATERIALIZED (
    -- lock events written into the version chains by releases before schema version 2
    SELECT e.id, e.activity_id, e.table_name, e.key, e.version, e.changed, e.operation, e.hash,
           e.prev_hash,
           CASE WHEN e.hash IS NOT NULL
                THEN chrononaut.chain_hash(e.prev_hash, e.table_name, e.key, e.version, e.changed,
                                           e.data, e.user_info, e.extra_info, e.operation)
           END AS recomputed
    FROM chrononaut.lock_events AS e
    WHERE e.activity_id IS NOT NULL AND ($1::text IS NULL OR e.table_name OPERATOR(pg_catalog.=) $1::text)
      -- before a prune's cut their versions are gone: so is their place in the chain
      AND NOT EXISTS (SELECT 1 FROM {{prunes}} AS p WHERE e.changed OPERATOR(pg_catalog.<) p.cut)
), mixed AS (
    -- the version chains that hold moved lock events, walked with them in place
    SELECT m.*,
           pg_catalog.lag(m.hash) OVER w AS pred_hash,
           pg_catalog.count(m.hash) OVER w AS chained_so_far
    FROM (SELECT r.id, r.id AS pos, false AS lock_event, r.table_name, r.key, r.version,
                 r.changed, r.operation, r.hash, r.prev_hash, r.recomputed,
                 r.pred_hash AS version_pred
          FROM r
          WHERE EXISTS (SELECT 1 FROM moved AS x
                        WHERE x.table_name OPERATOR(pg_catalog.=) r.table_name
                          AND x.key OPERATOR(pg_catalog.=) r.key)
          UNION ALL
          SELECT x.id, x.activity_id, true, x.table_name, x.key, x.version, x.changed,
                 x.operation, x.hash, x.prev_hash, x.recomputed, NULL
          FROM moved AS x) AS m
    WINDOW w AS (PARTITION BY m.table_name, m.key ORDER BY m.changed, m.version, m.pos
                 ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
), events AS (
    -- lock events recorded since: a chain of their own per record
    SELECT e.id, e.table_name, e.key, e.version, e.changed, e.operation, e.hash, e.prev_hash,
           pg_catalog.lag(e.hash) OVER w AS pred_hash,
           pg_catalog.count(e.hash) OVER w AS chained_so_far,
           CASE WHEN e.hash IS NOT NULL
                THEN chrononaut.chain_hash(e.prev_hash, e.table_name, e.key, e.version, e.changed,
                                           e.data, e.user_info, e.extra_info, e.operation)
           END AS recomputed
    FROM chrononaut.lock_events AS e
    WHERE e.activity_id IS NULL AND ($1::text IS NULL OR e.table_name OPERATOR(pg_catalog.=) $1::text)
    WINDOW w AS (PARTITION BY e.table_name, e.key ORDER BY e.changed, e.id
                 ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
), links AS (
    -- every row with what its prev_hash may be: `expected` (the row before it), or also
    -- `also` (the version before it, across moved lock events)
    SELECT false AS lock_chain, false AS lock_event, r.id, r.table_name, r.key, r.version,
           r.changed, r.hash, r.prev_hash, r.recomputed, r.chained_so_far,
           r.pred_hash AS expected, NULL::bytea AS also
    FROM r
    WHERE ((r.hash IS NULL AND r.chained_so_far > 0)
           OR (r.hash IS NOT NULL AND (r.recomputed IS DISTINCT FROM r.hash
                                       OR r.prev_hash IS DISTINCT FROM r.pred_hash)))
      AND NOT EXISTS (SELECT 1 FROM moved AS x
                      WHERE x.table_name OPERATOR(pg_catalog.=) r.table_name
                        AND x.key OPERATOR(pg_catalog.=) r.key)
    UNION ALL
    SELECT false, m.lock_event, m.id, m.table_name, m.key, m.version, m.changed, m.hash,
           m.prev_hash, m.recomputed, m.chained_so_far, m.pred_hash, m.version_pred
    FROM mixed AS m
    UNION ALL
    SELECT true, true, e.id, e.table_name, e.key, e.version, e.changed, e.hash, e.prev_hash,
           e.recomputed, e.chained_so_far, e.pred_hash, NULL
    FROM events AS e
), broken AS MATERIALIZED (
    SELECT l.*
    FROM links AS l
    WHERE (l.hash IS NULL AND l.chained_so_far > 0
           AND NOT EXISTS (SELECT 1 FROM off
                           WHERE off.history_name OPERATOR(pg_catalog.=) l.table_name))
       OR (l.hash IS NOT NULL
           AND (l.recomputed IS DISTINCT FROM l.hash
                OR (l.prev_hash IS DISTINCT FROM l.expected
                    AND (l.also IS NULL OR l.prev_hash IS DISTINCT FROM l.also))))
), named AS MATERIALIZED (
    -- the rows whose hash a broken row gives as prev_hash
    SELECT false AS lock_chain, r.table_name, r.key, r.hash
    FROM r WHERE r.hash OPERATOR(pg_catalog.=) ANY (SELECT b.prev_hash FROM broken AS b)
    UNION ALL
    SELECT false, x.table_name, x.key, x.hash
    FROM moved AS x WHERE x.hash OPERATOR(pg_catalog.=) ANY (SELECT b.prev_hash FROM broken AS b)
    UNION ALL
    SELECT true, e.table_name, e.key, e.hash
    FROM events AS e WHERE e.hash OPERATOR(pg_catalog.=) ANY (SELECT b.prev_hash FROM broken AS b)
), bad AS (
    SELECT b.*,
           CASE
               WHEN b.hash IS NULL THEN 'hash_removed'
               WHEN b.recomputed IS DISTINCT FROM b.hash THEN 'edited'
               WHEN b.prev_hash IS NULL THEN 'out_of_order'
               WHEN EXISTS (SELECT 1 FROM named AS n
                            WHERE n.lock_chain OPERATOR(pg_catalog.=) b.lock_chain
                              AND n.table_name OPERATOR(pg_catalog.=) b.table_name
                              AND n.key OPERATOR(pg_catalog.=) b.key
                              AND n.hash OPERATOR(pg_catalog.=) b.prev_hash) THEN 'out_of_order'
               ELSE 'missing'
           END AS kind
    FROM broken AS b
), totals AS (
    SELECT c.table_name, pg_catalog.sum(c.total) AS total, pg_catalog.sum(c.chained) AS chained,
           pg_catalog.sum(c.lock_events) AS lock_events
    FROM (SELECT r.table_name, pg_catalog.count(*) AS total, pg_catalog.count(r.hash) AS chained,
                 0 AS lock_events
          FROM r GROUP BY r.table_name
          UNION ALL
          SELECT x.table_name, pg_catalog.count(*), pg_catalog.count(x.hash), 0
          FROM moved AS x GROUP BY x.table_name
          UNION ALL
          SELECT e.table_name, 0, 0, pg_catalog.count(*)
          FROM events AS e GROUP BY e.table_name) AS c
    GROUP BY c.table_name
)
SELECT t.table_name, t.total::int8 AS total, t.chained::int8 AS chained,
       t.lock_events::int8 AS lock_events,
       EXISTS (SELECT 1 FROM off WHERE off.history_name OPERATOR(pg_catalog.=) t.table_name) AS no_chain,
       COALESCE((SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                            'id', b.id, 'key', b.key, 'version', b.version, 'kind', b.kind,
                            'changed', b.changed, 'lock_event', b.lock_event)
                            ORDER BY b.lock_chain, b.key, b.changed, b.version, b.id)
                 FROM bad AS b WHERE b.table_name = t.table_name), '[]'::jsonb) AS issues
FROM totals AS t
ORDER BY t.table_name
