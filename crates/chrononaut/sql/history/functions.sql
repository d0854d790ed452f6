-- SQL functions for reading history from any client. Part of the install (run after
-- install.sql, in the same transaction, idempotently).
--   <activity_schema>  quoted schema of the activity table

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
-- Runs with the caller's rights: reading history needs SELECT on the activity table.
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
    -- the same query as sql/history/as_of.sql (a skip scan of the table's keys in
    -- ix_chrononaut_activity_table_key_changed, then one probe per key: O(records x
    -- log(history)), whatever the versions per record)
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
    SELECT r.*
    FROM keys AS k
    CROSS JOIN LATERAL (
        SELECT a.data, a.operation
        FROM {{activity_schema}}.chrononaut_activity AS a
        WHERE a.table_name = hist AND a.key = k.key AND a.changed <= at
        ORDER BY a.changed DESC, a.version DESC, a.id DESC
        LIMIT 1
    ) AS h
    CROSS JOIN LATERAL pg_catalog.jsonb_populate_record(rowtype, h.data) AS r
    WHERE k.table_name = hist
      AND h.operation IS DISTINCT FROM 'delete';
END
$fn$;
COMMENT ON FUNCTION chrononaut.as_of(anyelement, timestamptz) IS
    'rows of a table as they were at a time: SELECT * FROM chrononaut.as_of(NULL::schema.table, t)';
