-- The converted history of the selected records of one table: the rows that the capture
-- triggers would have written, built from chrononaut 0.1/0.2 legacy history. Embedded in
-- insert.sql (to write them) and preview.sql (`--dry-run`).
--
-- Legacy layout: `<table>_history` holds one row per replaced version: the record's state
-- BEFORE a change (with that state's `version`), WHEN the change happened (`changed`) and WHO
-- made it and why (`change_info`: user_id, remote_addr, extra {...}, hidden_cols_changed
-- [...]). The current table holds the latest state. A record that is gone from the current
-- table was deleted: its last legacy row is the deletion (last state, time, who).
--
-- Converted layout (one row per version, as the triggers write it):
--   version N     state of legacy row N (or of the current row for the latest version);
--                 time and change info of the change that produced it, i.e. of legacy row N-1;
--   version 0     time from created_at when the table has one (else the first change's time,
--                 else now); change info unknown (user_id and remote_addr null);
--   deletion      version last + 1 with the last state and the deletion's time and change info;
--   operation     'insert' for version 0, 'update' otherwise, 'delete' for the deletion;
--   user_info     {"user_id", "remote_addr"} plus any other top-level change_info keys;
--   extra_info    change_info.extra, plus hidden_cols_changed when the change noted some;
--   data          the state without the legacy meta columns (changed, change_info), without
--                 hidden and untracked columns, with "version"; timestamps in UTC (the
--                 caller sets TimeZone = UTC for the transaction).
-- A current row whose version is not above its legacy versions (its version was reset by hand)
-- is flagged `inconsistent` and not written: its version number is already taken.
--
-- Placeholders (identifiers quoted and literals escaped by the library):
--   <legacy> <table>        legacy history table and current table, qualified; aliases cn_h, cn_t
--   <legacy_joins>          LEFT JOINs of the parents' legacy tables on id and version (--join)
--   <table_joins>           JOINs of the parent tables on id (--join)
--   <key_h> <key_t>         the history key (primary key without version) from cn_h / cn_t
--   <data_h> <data_t>       the state from the legacy rows / the current row
--   <version_t>             the current row's version column
--   <change_info_h>         the legacy change_info as jsonb (NULL when there is none)
--   <created_h> <created_t> created_at as timestamptz (NULL when there is none)
--   <filter_h> <filter_t>   which records: an id range, a list of ids, or true
WITH cn_states AS (
    SELECT {{key_h}} AS key,
           COALESCE(cn_h.version, 0) AS version,
           {{data_h}} AS data,
           cn_h.changed::timestamptz AS change_time,
           {{change_info_h}} AS change_info,
           {{created_h}} AS created_at,
           false AS is_current
    FROM {{legacy}} AS cn_h
    {{legacy_joins}}
    WHERE {{filter_h}}
    UNION ALL
    SELECT {{key_t}}, COALESCE({{version_t}}, 0), {{data_t}},
           NULL::timestamptz, NULL::jsonb, {{created_t}}, true
    FROM {{table}} AS cn_t
    {{table_joins}}
    WHERE {{filter_t}}
), cn_seq AS (
    SELECT s.key, s.version, s.data, s.change_time, s.change_info, s.is_current,
           row_number() OVER w AS n,
           lag(s.version) OVER w AS prev_version,
           lag(s.change_time) OVER w AS prev_time,
           lag(s.change_info) OVER w AS prev_info,
           lead(s.version) OVER w IS NULL AS is_last,
           bool_or(s.is_current) OVER k AS has_current,
           COALESCE(min(s.created_at) OVER k, min(s.change_time) OVER k, now()) AS insert_time
    FROM cn_states AS s
    WINDOW w AS (PARTITION BY s.key ORDER BY s.version, s.is_current),
           k AS (PARTITION BY s.key)
), cn_conv AS (
    SELECT q.key, q.version,
           q.data || jsonb_build_object('version', q.version) AS data,
           CASE WHEN q.n = 1 THEN q.insert_time ELSE COALESCE(q.prev_time, q.insert_time) END AS changed,
           CASE WHEN q.n = 1 THEN NULL ELSE q.prev_info END AS change_info,
           CASE WHEN q.version = 0 THEN 'insert' ELSE 'update' END AS operation,
           (q.is_current AND q.n > 1 AND q.prev_version >= q.version) AS inconsistent
    FROM cn_seq AS q
    UNION ALL
    SELECT q.key, q.version + 1,
           q.data || jsonb_build_object('version', q.version + 1),
           COALESCE(q.change_time, q.insert_time), q.change_info, 'delete', false
    FROM cn_seq AS q
    WHERE q.is_last AND NOT q.has_current
)
SELECT r.key, r.version, r.data, r.changed, r.operation, r.inconsistent,
       jsonb_build_object('user_id', NULL, 'remote_addr', NULL)
           || CASE WHEN jsonb_typeof(r.change_info) = 'object'
                   THEN r.change_info - 'extra' - 'hidden_cols_changed'
                   ELSE '{}'::jsonb END AS user_info,
       CASE WHEN jsonb_typeof(r.change_info -> 'extra') = 'object'
            THEN r.change_info -> 'extra' ELSE '{}'::jsonb END
           || CASE WHEN jsonb_typeof(r.change_info) = 'object' AND r.change_info ? 'hidden_cols_changed'
                   THEN jsonb_build_object('hidden_cols_changed', r.change_info -> 'hidden_cols_changed')
                   ELSE '{}'::jsonb END AS extra_info
FROM cn_conv AS r
