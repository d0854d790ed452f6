-- SQL functions for reading history from any client. Part of the install (run after
-- install.sql, in the same transaction, idempotently).
--   <activity_schema>  quoted schema of the activity table
--   <activity_schema_literal>  the same schema name as a SQL string literal

-- chrononaut.as_of(NULL::schema.table, t): every row of the table as it was at t, typed as
-- the table's own rows:
--
--     SELECT * FROM chrononaut.as_of(NULL::public.accounts, '2024-05-01 12:00+00');
--     SELECT id, balance FROM chrononaut.as_of(NULL::accounts, now() - interval '1 day')
--     WHERE owner = 'Doc';
--
-- Each row is the record's latest version recorded at or before t (deleted records and
-- records inserted later are absent), filled into the row type with jsonb_populate_record.
-- Hidden and untracked columns come back NULL: their values at t were never recorded (current
-- values would mix two moments and, for hidden columns, reveal what the options hide); so do
-- columns added after the version was recorded. A column dropped since is ignored.
-- Runs with the caller's rights; reads what chrononaut.history_as_of lets the caller read.
CREATE OR REPLACE FUNCTION chrononaut.as_of(rowtype anyelement, at timestamptz)
RETURNS SETOF anyelement
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
-- The result's columns are the table's: a column named like a variable or parameter below
-- (hist, rel, at) must not make a reference ambiguous; every column here is qualified.
#variable_conflict use_variable
DECLARE
    rel  oid;
    hist text;
BEGIN
    SELECT t.typrelid INTO rel
    FROM pg_catalog.pg_type t
    WHERE t.oid = pg_catalog.pg_typeof(rowtype) AND t.typrelid <> 0;
    IF rel IS NULL THEN
        RAISE EXCEPTION 'chrononaut.as_of needs a table row type such as NULL::schema.table, got %',
            pg_catalog.pg_typeof(rowtype)
            USING ERRCODE = '22023';
    END IF;
    IF at IS NULL THEN
        RAISE EXCEPTION 'chrononaut.as_of needs a time, got NULL' USING ERRCODE = '22004';
    END IF;
    SELECT CASE WHEN n.nspname = 'public' THEN c.relname::text
                ELSE pg_catalog.format('%I.%I', n.nspname, c.relname) END
    INTO hist
    FROM pg_catalog.pg_class c
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE c.oid = rel;
    -- the rows, read by chrononaut.history_as_of (as the owner, after checking the reader);
    -- filled into the row type here, with the caller's rights: a column's type may run code
    -- (a domain's CHECK calls functions), which must not run as the owner
    RETURN QUERY
    SELECT r.*
    FROM chrononaut.history_as_of(hist, at) AS h
    CROSS JOIN LATERAL pg_catalog.jsonb_populate_record(rowtype, h.data) AS r;
END
$fn$;
COMMENT ON FUNCTION chrononaut.as_of(anyelement, timestamptz) IS
    'rows of a table as they were at a time: SELECT * FROM chrononaut.as_of(NULL::schema.table, t)';


-- The reads below run as their owner (SECURITY DEFINER), after checking that the role reading
-- may read the history (chrononaut.reader_may_read: the rules of the row-level security
-- policies, sql/visibility.sql). A role under the policies who queried chrononaut_activity
-- itself would have its `key = ...` condition evaluated after the policy's (jsonb equality is
-- not LEAKPROOF), so not as an index condition: reading one record would scan the history of
-- its whole table, and the skip scan of as_of would do so once per key. Here every read is a
-- probe of ix_chrononaut_activity_table_key_changed (table_name, jsonb_hash(key), key,
-- changed, version, id) (and, for the rows as_of's scan path found in it, of the primary
-- key); a read of one key states the hash beside the key, so that this index serves it.
-- A reader who may not read the history gets no rows, as from the table. They only read
-- history rows: nothing in them runs code of a tracked table (types, domains).

-- chrononaut.as_of_path(hist, t): how chrononaut.history_as_of reads an unpartitioned history
-- at t, chosen from estimates (all three paths give the same rows, in the same order: the
-- index's, by (hash of the key, key)):
--   'walk'  one index step per record: from the previous key, the newest entry at or before t
--           of the next key down, with its data, in ix_chrononaut_activity_table_key_changed
--           (the step passes over that key's entries newer than t). Cost per record: one
--           descent plus the entries after t; best when few versions are newer than t (t
--           recent: none at all).
--   'skip'  two index steps per record: a skip to the next key, then a probe of that key at t.
--           Cost per record: two descents, whatever the versions; best when many versions per
--           record are newer than t (t far back in a long history).
--   'scan'  one pass over the table's index entries (index only, the newest entry at or before
--           t of each key, with its row id), then that row by the primary key. Cost: every entry
--           of the table once plus a descent of the primary key (integer comparisons) per
--           record; chosen only when the table has at most 16 history rows per record, so that
--           it stays O(records).
--   'empty' t is before the table's first history row: no row can be at or before it.
-- Estimates: records from the live table's reltuples (pg_class, kept by VACUUM / ANALYZE); the
-- table's history rows from the activity table's statistics of table_name (pg_stats); the
-- share newer than t from its first and last history times (two probes of
-- ix_chrononaut_activity_table_changed), assuming writes spread evenly over that span. Without
-- statistics (never analyzed, table no longer tracked) it is 'skip', the path of earlier
-- releases. The weights below (per record: walk 23 + entries after t / 3, skip 50, scan
-- 5 + entries / 3: its row by the primary key; 13 when that was a probe of the jsonb index)
-- are measured costs relative to each other (BENCHMARKS.md, "Whole-table as of: three paths"
-- and "the row id in the index"; with the key's hash in the index the walk and the skip got
-- 1.4-2.3x cheaper and the scan ~25 % dearer, and the choices, measured again, stand: "the
-- key's hash in the history index"); a wrong estimate costs time, never rows.
-- Setting chrononaut.as_of_path to 'walk', 'skip' or 'scan' (SET, or set_config) forces that
-- path: for tests and to compare them on a real history.
CREATE OR REPLACE FUNCTION chrononaut.as_of_path(hist text, at timestamptz)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    forced   text := pg_catalog.current_setting('chrononaut.as_of_path', true);
    records  float8;
    rows_all float8;
    first_at timestamptz;
    last_at  timestamptz;
    newer    float8;
    walk     float8;
    scan     float8;
BEGIN
    IF forced IN ('walk', 'skip', 'scan') THEN
        RETURN forced;
    END IF;
    SELECT a.changed INTO first_at
    FROM {{activity_schema}}.chrononaut_activity AS a
    WHERE a.table_name = hist AND a.id IS NOT NULL
    ORDER BY a.changed LIMIT 1;
    IF first_at IS NULL OR at < first_at THEN
        RETURN 'empty';
    END IF;
    SELECT a.changed INTO last_at
    FROM {{activity_schema}}.chrononaut_activity AS a
    WHERE a.table_name = hist AND a.id IS NOT NULL
    ORDER BY a.changed DESC LIMIT 1;
    SELECT c.reltuples INTO records
    FROM chrononaut.tracked AS t
    JOIN pg_catalog.pg_class AS c ON c.oid = t.relid
    JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
    WHERE COALESCE(t.history_name,
                   CASE WHEN n.nspname = 'public' THEN c.relname::text
                        ELSE pg_catalog.format('%I.%I', n.nspname, c.relname) END) = hist
    LIMIT 1;
    -- the history rows of hist: its frequency among the activity table's most common
    -- table_names, else an even share of the rest
    SELECT c.reltuples * CASE
               WHEN pg_catalog.array_position(s.most_common_vals::text::text[], hist) IS NOT NULL
               THEN s.most_common_freqs[pg_catalog.array_position(s.most_common_vals::text::text[], hist)]
               ELSE (1 - s.null_frac - COALESCE((SELECT sum(f) FROM unnest(s.most_common_freqs) AS f), 0))
                    / GREATEST(CASE WHEN s.n_distinct < 0 THEN -s.n_distinct * c.reltuples
                                    ELSE s.n_distinct END
                               - COALESCE(pg_catalog.cardinality(s.most_common_vals::text::text[]), 0), 1)
           END
    INTO rows_all
    FROM pg_catalog.pg_stats AS s
    JOIN pg_catalog.pg_namespace AS n ON n.nspname = s.schemaname
    JOIN pg_catalog.pg_class AS c ON c.relnamespace = n.oid AND c.relname = s.tablename
    WHERE s.schemaname = {{activity_schema_literal}} AND s.tablename = 'chrononaut_activity'
      AND s.attname = 'table_name' AND NOT s.inherited;
    IF records IS NULL OR records < 1 OR rows_all IS NULL OR rows_all <= 0 THEN
        RETURN 'skip';
    END IF;
    newer := CASE WHEN at >= last_at THEN 0
                  ELSE rows_all * pg_catalog.date_part('epoch', last_at - at)
                       / GREATEST(pg_catalog.date_part('epoch', last_at - first_at), 1e-6) END;
    walk := 23 + newer / records / 3;
    scan := CASE WHEN rows_all / records <= 16 THEN 5 + rows_all / records / 3 ELSE 'infinity' END;
    IF scan < walk AND scan < 50 THEN
        RETURN 'scan';
    ELSIF walk < 50 THEN
        RETURN 'walk';
    END IF;
    RETURN 'skip';
END
$fn$;
COMMENT ON FUNCTION chrononaut.as_of_path(text, timestamptz) IS
    'how chrononaut.history_as_of reads the history named hist at a time: walk, skip, scan or empty';

-- chrononaut.history_as_of(hist, t): every record of the history named hist as it was at t:
-- per key, the latest version recorded at or before t, unless it is a deletion (records
-- inserted later are absent). Rows in the index's order, descending (hash of the key, key),
-- not in key order (the CLI sorts them; AsOfRow::key_order).
-- O(records x log(history)), whatever the number of versions per record, by one of the paths
-- of chrononaut.as_of_path (above), each in ix_chrononaut_activity_table_key_changed:
--   skip: a skip scan of the table's distinct keys, greatest first: each step is one index
--         probe for the greatest (jsonb_hash(key), key) of the table below the previous one
--         (a row comparison: the step compares the hashes, integers, and compares jsonb keys
--         only for keys of equal hash); then per key one backward probe of the same index for
--         its latest version at or before t.
--   walk: each step goes straight to the next key's latest version at or before t (its data
--         included): one probe per key instead of two, comparing hashes as the skip does.
--   scan: the table's entries at or before t once, index only, keeping each key's newest (its
--         row id: the index's last column); then that row by the primary key, one probe of
--         integers per key.
-- `id` breaks ties of (changed, version) everywhere, in the index's own order (its last key
-- column): no step or probe sorts.
-- Keys come from the history, not from the live table, so records deleted since are found too.
-- Sequential and bitmap scans are off: every path must read the index in its order (a
-- planner that estimated most of the table's history at or before t would otherwise sort it).
-- On a partitioned activity table (record heads kept, sql/heads/install.sql) both steps would
-- search every partition; there the keys come from chrononaut.heads (one range of its primary
-- key, deleted records included) and each key's probe is bounded below by its head's time when
-- the head is at or before t (the record has not changed since: the probe then finds the head
-- itself, in the one partition that holds it); rows then come in descending key order.
-- History written by the Python library has no `operation`: its deletions cannot be told
-- apart, and such deleted records show with their last state.
CREATE OR REPLACE FUNCTION chrononaut.history_as_of(hist text, at timestamptz)
RETURNS TABLE (key jsonb, version integer, changed timestamptz, data jsonb)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off
SET enable_bitmapscan = off
AS $fn$
#variable_conflict use_column
DECLARE
    path text;
BEGIN
    IF at IS NULL THEN
        RAISE EXCEPTION 'chrononaut.history_as_of needs a time, got NULL' USING ERRCODE = '22004';
    END IF;
    IF hist IS NULL OR NOT chrononaut.reader_may_read(hist) THEN
        RETURN;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_trigger AS g
               WHERE g.tgrelid = pg_catalog.to_regclass(pg_catalog.quote_ident(
                         {{activity_schema_literal}}) || '.chrononaut_activity')
                 AND g.tgname = 'chrononaut_heads_insert') THEN
        RETURN QUERY
        SELECT r.key, r.version, r.changed, r.data
        FROM chrononaut.heads AS k
        CROSS JOIN LATERAL (
            SELECT a.key, a.version, a.changed, a.data, a.operation
            FROM {{activity_schema}}.chrononaut_activity AS a
            WHERE a.table_name = hist AND a.key = k.key AND pg_catalog.jsonb_hash(a.key) = pg_catalog.jsonb_hash(k.key) AND a.changed <= at
              AND a.changed >= CASE WHEN k.changed <= at THEN k.changed ELSE '-infinity' END
            ORDER BY a.changed DESC, a.version DESC, a.id DESC
            LIMIT 1
        ) AS r
        WHERE k.table_name = hist
          AND r.operation IS DISTINCT FROM 'delete'
        ORDER BY k.table_name DESC, k.key DESC;
        RETURN;
    END IF;
    path := chrononaut.as_of_path(hist, at);
    IF path = 'empty' THEN
        RETURN;
    ELSIF path = 'walk' THEN
        RETURN QUERY
        WITH RECURSIVE r (table_name, h, key, version, changed, data, operation) AS (
            (SELECT a.table_name, pg_catalog.jsonb_hash(a.key), a.key, a.version, a.changed, a.data, a.operation
             FROM {{activity_schema}}.chrononaut_activity AS a
             WHERE a.table_name = hist AND a.changed <= at
             ORDER BY a.table_name DESC, pg_catalog.jsonb_hash(a.key) DESC, a.key DESC, a.changed DESC,
                      a.version DESC, a.id DESC
             LIMIT 1)
            UNION ALL
            SELECT n.table_name, n.h, n.key, n.version, n.changed, n.data, n.operation
            FROM r
            CROSS JOIN LATERAL (
                SELECT a.table_name, pg_catalog.jsonb_hash(a.key) AS h, a.key, a.version, a.changed, a.data,
                       a.operation
                FROM {{activity_schema}}.chrononaut_activity AS a
                WHERE a.table_name = hist AND (pg_catalog.jsonb_hash(a.key), a.key) < (r.h, r.key)
                  AND a.changed <= at
                ORDER BY a.table_name DESC, pg_catalog.jsonb_hash(a.key) DESC, a.key DESC, a.changed DESC,
                         a.version DESC, a.id DESC
                LIMIT 1
            ) AS n
        )
        SELECT r.key, r.version, r.changed, r.data
        FROM r
        WHERE r.operation IS DISTINCT FROM 'delete';
    ELSIF path = 'scan' THEN
        RETURN QUERY
        SELECT h.key, h.version, h.changed, h.data
        FROM (SELECT DISTINCT ON (a.table_name, pg_catalog.jsonb_hash(a.key), a.key) a.table_name, a.key, a.id
              FROM {{activity_schema}}.chrononaut_activity AS a
              WHERE a.table_name = hist AND a.changed <= at
              ORDER BY a.table_name DESC, pg_catalog.jsonb_hash(a.key) DESC, a.key DESC, a.changed DESC,
                       a.version DESC, a.id DESC) AS k
        CROSS JOIN LATERAL (
            -- by the primary key; LIMIT 1 keeps it a per-key probe (no join over the table)
            SELECT a.key, a.version, a.changed, a.data, a.operation
            FROM {{activity_schema}}.chrononaut_activity AS a
            WHERE a.id = k.id
            LIMIT 1
        ) AS h
        WHERE h.operation IS DISTINCT FROM 'delete';
    ELSE
        RETURN QUERY
        WITH RECURSIVE keys (table_name, h, key) AS (
            (SELECT a.table_name, pg_catalog.jsonb_hash(a.key), a.key
             FROM {{activity_schema}}.chrononaut_activity AS a
             WHERE a.table_name = hist
             ORDER BY a.table_name DESC, pg_catalog.jsonb_hash(a.key) DESC, a.key DESC
             LIMIT 1)
            UNION ALL
            SELECT n.table_name, n.h, n.key
            FROM keys AS k
            CROSS JOIN LATERAL (
                SELECT a.table_name, pg_catalog.jsonb_hash(a.key) AS h, a.key
                FROM {{activity_schema}}.chrononaut_activity AS a
                WHERE a.table_name = hist AND (pg_catalog.jsonb_hash(a.key), a.key) < (k.h, k.key)
                ORDER BY a.table_name DESC, pg_catalog.jsonb_hash(a.key) DESC, a.key DESC
                LIMIT 1
            ) AS n
        )
        SELECT h.key, h.version, h.changed, h.data
        FROM keys AS k
        CROSS JOIN LATERAL (
            SELECT a.key, a.version, a.changed, a.data, a.operation
            FROM {{activity_schema}}.chrononaut_activity AS a
            WHERE a.table_name = hist AND pg_catalog.jsonb_hash(a.key) = k.h AND a.key = k.key
              AND a.changed <= at
            ORDER BY a.changed DESC, a.version DESC, a.id DESC
            LIMIT 1
        ) AS h
        WHERE k.table_name = hist
          AND h.operation IS DISTINCT FROM 'delete';
    END IF;
END
$fn$;
COMMENT ON FUNCTION chrononaut.history_as_of(text, timestamptz) IS
    'history rows of every record of a table at a time (what chrononaut.as_of fills into rows)';

-- chrononaut.record_history(hist, key, ...): the versions of one record, ordered by
-- (changed, version, id), oldest first or newest first:
--   at_or_before / at_or_after  bounds on changed (NULL: none)
--   only_version                only versions with this number (NULL: all)
--   newest_first, max_rows (NULL: all), skip_rows
-- So: versions (bounds, limit), version_at(t) (at_or_before t, newest first, 1 row; skip 1 for
-- the one before), version n (only_version, newest first, 1 row: where history written by the
-- Python library repeats a number after a re-insert, the latest wins), latest.
-- Ordered by (changed, version, id): Python-written history may repeat version numbers and its
-- `changed` comes from the application's clock. The bounds are written with COALESCE so that
-- they stay index conditions in a generic plan; sorts are off, so the order comes from the
-- index (ties of (changed, version) included: id is its last key column).
CREATE OR REPLACE FUNCTION chrononaut.record_history(
    hist text, record_key jsonb,
    at_or_before timestamptz DEFAULT NULL, at_or_after timestamptz DEFAULT NULL,
    only_version integer DEFAULT NULL, newest_first boolean DEFAULT false,
    max_rows bigint DEFAULT NULL, skip_rows bigint DEFAULT 0)
RETURNS SETOF {{activity_schema}}.chrononaut_activity
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET enable_sort = off
AS $fn$
BEGIN
    IF hist IS NULL OR record_key IS NULL OR NOT chrononaut.reader_may_read(hist) THEN
        RETURN;
    END IF;
    IF newest_first THEN
        RETURN QUERY
        SELECT a.*
        FROM {{activity_schema}}.chrononaut_activity AS a
        WHERE a.table_name = hist AND a.key = record_key AND pg_catalog.jsonb_hash(a.key) = pg_catalog.jsonb_hash(record_key)
          AND a.changed <= COALESCE(at_or_before, 'infinity'::timestamptz)
          AND a.changed >= COALESCE(at_or_after, '-infinity'::timestamptz)
          AND (only_version IS NULL OR a.version = only_version)
        ORDER BY a.changed DESC, a.version DESC, a.id DESC
        LIMIT max_rows OFFSET skip_rows;
    ELSE
        RETURN QUERY
        SELECT a.*
        FROM {{activity_schema}}.chrononaut_activity AS a
        WHERE a.table_name = hist AND a.key = record_key AND pg_catalog.jsonb_hash(a.key) = pg_catalog.jsonb_hash(record_key)
          AND a.changed <= COALESCE(at_or_before, 'infinity'::timestamptz)
          AND a.changed >= COALESCE(at_or_after, '-infinity'::timestamptz)
          AND (only_version IS NULL OR a.version = only_version)
        ORDER BY a.changed, a.version, a.id
        LIMIT max_rows OFFSET skip_rows;
    END IF;
END
$fn$;
COMMENT ON FUNCTION chrononaut.record_history(text, jsonb, timestamptz, timestamptz, integer, boolean, bigint, bigint) IS
    'versions of one record (table_name, key), oldest or newest first, between times, by number';
