-- One batch of a baseline: existing rows of a table that have no version yet (`version` IS
-- NULL: they existed before tracking began) are recorded as version 0 (or, for a key that
-- already has history, its next version), operation 'insert', extra_info {"baseline": true},
-- and their `version` column is set to match. Run by `Chrononaut::baseline` in batches, each
-- in a transaction of its own, so that a big table is not held in one giant transaction.
--
-- The batch runs with the update capture and the version bump disabled (ALTER TABLE ... DISABLE TRIGGER, in the
-- batch's transaction: it takes a SHARE ROW EXCLUSIVE lock, so concurrent writers wait for the
-- batch and none of their changes goes unrecorded). Setting `version` is not a change of the
-- record; the capture would otherwise record it as one.
--
-- Placeholders:
--   <table>        the table, schema-qualified and quoted
--   <activity>     the activity table, schema-qualified and quoted
--   <table_name>   the history table_name as a SQL literal
--   <key_t>        jsonb_build_object of the key columns of alias t
--   <data_t>       the snapshot of alias t (hidden, untracked, record-changes columns removed)
--   <pk_t>         the primary-key columns of alias t, comma-separated (ordering, keyset)
--   <pk_l>         the same columns of alias l (the last key of the previous batch)
--   <pk_join>      t's primary key equals v's (v.pk_1, ...)
--   <pk_cols>      t's primary-key columns as pk_1, pk_2, ...
--   <pk_b_desc>    pk_1 DESC, pk_2 DESC, ... (the batch's last key)
-- $1: the last key of the previous batch as jsonb (NULL: start), $2: the batch size.
-- Returns the number of rows recorded and the last key seen.
WITH b AS (
    SELECT {{key_t}} AS key, {{data_t}} AS data, t.version AS row_version, {{pk_cols}}
    FROM {{table}} AS t
    WHERE $1::jsonb IS NULL
       OR ROW({{pk_t}}) > (SELECT {{pk_l}}
                           FROM pg_catalog.jsonb_populate_record(NULL::{{table}}, $1) AS l)
    ORDER BY {{pk_t}}
    LIMIT $2
), v AS (
    SELECT b.*,
           COALESCE((SELECT max(a.version) + 1 FROM {{activity}} AS a
                     WHERE a.key = b.key AND pg_catalog.jsonb_hash(a.key) = pg_catalog.jsonb_hash(b.key) AND a.table_name = {{table_name}}), 0) AS version
    FROM b
    WHERE b.row_version IS NULL
), h AS (
    INSERT INTO {{activity}} (table_name, changed, version, key, data, user_info, extra_info, operation)
    SELECT {{table_name}}, pg_catalog.clock_timestamp(), v.version, v.key,
           v.data || pg_catalog.jsonb_build_object('version', v.version),
           (chrononaut.current_context()).user_info,
           '{"baseline": true}'::jsonb,
           'insert'
    FROM v
    RETURNING 1
), u AS (
    UPDATE {{table}} AS t SET version = v.version
    FROM v
    WHERE {{pk_join}}
    RETURNING 1
)
SELECT (SELECT count(*) FROM h)::int8 AS recorded,
       (SELECT count(*) FROM b)::int8 AS seen,
       (SELECT b.key FROM b ORDER BY {{pk_b_desc}} LIMIT 1) AS last_key
