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
-- probe of ix_chrononaut_activity_table_key_changed (table_name, key, changed, version).
-- A reader who may not read the history gets no rows, as from the table. They only read
-- history rows: nothing in them runs code of a tracked table (types, domains).

-- chrononaut.history_as_of(hist, t): every record of the history named hist as it was at t:
-- per key, the latest version recorded at or before t, unless it is a deletion (records
-- inserted later are absent). Rows in descending key order.
-- O(records x log(history)), whatever the number of versions per record:
--   keys: a skip scan of the table's distinct keys, newest key first, in
--         ix_chrononaut_activity_table_key_changed: each step is one index probe for the
--         greatest (table_name, key) below the previous one (written as a row comparison so
--         that only this index can serve it; the first step starts at table_name <= hist for
--         the same reason, and the walk stops at the first key of another table). Keys come
--         from the history, not from the live table, so records deleted since are found too.
--   then per key one backward probe of the same index for its latest version at or before
--   t (`id` breaks ties of (changed, version)).
-- On a partitioned activity table (record heads kept, sql/heads/install.sql) both steps would
-- search every partition; there the keys come from chrononaut.heads (one range of its primary
-- key, deleted records included) and each key's probe is bounded below by its head's time when
-- the head is at or before t (the record has not changed since: the probe then finds the head
-- itself, in the one partition that holds it).
-- History written by the Python library has no `operation`: its deletions cannot be told
-- apart, and such deleted records show with their last state.
CREATE OR REPLACE FUNCTION chrononaut.history_as_of(hist text, at timestamptz)
RETURNS TABLE (key jsonb, version integer, changed timestamptz, data jsonb)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
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
            WHERE a.table_name = hist AND a.key = k.key AND a.changed <= at
              AND a.changed >= CASE WHEN k.changed <= at THEN k.changed ELSE '-infinity' END
            ORDER BY a.changed DESC, a.version DESC, a.id DESC
            LIMIT 1
        ) AS r
        WHERE k.table_name = hist
          AND r.operation IS DISTINCT FROM 'delete'
        ORDER BY k.table_name DESC, k.key DESC;
        RETURN;
    END IF;
    RETURN QUERY
    WITH RECURSIVE keys (table_name, key) AS (
        (SELECT a.table_name, a.key
         FROM {{activity_schema}}.chrononaut_activity AS a
         WHERE a.table_name <= hist
         ORDER BY a.table_name DESC, a.key DESC
         LIMIT 1)
        UNION ALL
        SELECT n.table_name, n.key
        FROM keys AS k
        CROSS JOIN LATERAL (
            SELECT a.table_name, a.key
            FROM {{activity_schema}}.chrononaut_activity AS a
            WHERE (a.table_name, a.key) < (k.table_name, k.key)
            ORDER BY a.table_name DESC, a.key DESC
            LIMIT 1
        ) AS n
        WHERE k.table_name = hist
    )
    SELECT h.key, h.version, h.changed, h.data
    FROM keys AS k
    CROSS JOIN LATERAL (
        SELECT a.key, a.version, a.changed, a.data, a.operation
        FROM {{activity_schema}}.chrononaut_activity AS a
        WHERE a.table_name = hist AND a.key = k.key AND a.changed <= at
        ORDER BY a.changed DESC, a.version DESC, a.id DESC
        LIMIT 1
    ) AS h
    WHERE k.table_name = hist
      AND h.operation IS DISTINCT FROM 'delete';
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
-- index (ties of (changed, version) are sorted by id incrementally, a few rows at a time).
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
        WHERE a.table_name = hist AND a.key = record_key
          AND a.changed <= COALESCE(at_or_before, 'infinity'::timestamptz)
          AND a.changed >= COALESCE(at_or_after, '-infinity'::timestamptz)
          AND (only_version IS NULL OR a.version = only_version)
        ORDER BY a.changed DESC, a.version DESC, a.id DESC
        LIMIT max_rows OFFSET skip_rows;
    ELSE
        RETURN QUERY
        SELECT a.*
        FROM {{activity_schema}}.chrononaut_activity AS a
        WHERE a.table_name = hist AND a.key = record_key
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
