-- chrononaut schema, version 2 (2: lock events moved out of the activity table).
--
-- Run by `Chrononaut::install` / `chrononaut init` inside one transaction that holds the
-- chrononaut advisory lock, or printed by `chrononaut init --print-sql` for teams that apply
-- migrations with their own tool. Every statement is idempotent: running this file again
-- upgrades in place and never loses a row.
--
-- Placeholders, substituted by the library with quoted identifiers before this reaches SQL:
--   <activity_schema>  quoted schema of the activity table (default "public")
--   <activity_schema_literal>  the same schema name as a SQL string literal
--
-- Transaction-local settings read by the triggers (set them with
-- `SELECT set_config('chrononaut.user_id', 'alice', true)` from any client):
--   chrononaut.user_id               who makes the change            -> user_info.user_id
--   chrononaut.remote_addr           from which address              -> user_info.remote_addr
--   chrononaut.extra                 JSON object, explicit change info (rationale, ...)
--                                    -> extra_info; satisfies strict mode when not empty
--   chrononaut.extra_auto            JSON object from context providers -> extra_info
--                                    (does not satisfy strict mode)
--   chrononaut.record_extra          JSON array of {"table": t, "key": {...}, "extra": {...}}:
--                                    extra info for single records only
--   chrononaut.suppress              'on': record nothing and do not bump versions
--                                    (members of chrononaut_admin only)
--   chrononaut.allow_delete_history  'on': allow DELETE/TRUNCATE of the activity table
--                                    (members of chrononaut_admin only)
--   chrononaut.fixup                 internal: set by an insert capture while it corrects the
--                                    `version` of re-inserted rows

CREATE SCHEMA IF NOT EXISTS chrononaut;
CREATE SCHEMA IF NOT EXISTS {{activity_schema}};
COMMENT ON SCHEMA chrononaut IS 'chrononaut internals: settings, tracked tables, capture functions';
REVOKE CREATE ON SCHEMA chrononaut FROM PUBLIC;
GRANT USAGE ON SCHEMA chrononaut TO PUBLIC;

-- The role whose members may use the two escapes (suppress versioning, delete history).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'chrononaut_admin') THEN
        CREATE ROLE chrononaut_admin NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    -- another database of this cluster created it at the same moment
    NULL;
END $$;

-- Key/value settings of this installation: schema_version, activity_schema, strict_default.
CREATE TABLE IF NOT EXISTS chrononaut.meta (
    key   text PRIMARY KEY,
    value text NOT NULL
);

-- One row per tracked table, with its options. `relid` follows renames.
CREATE TABLE IF NOT EXISTS chrononaut.tracked (
    relid          regclass PRIMARY KEY,
    hidden         text[]      NOT NULL DEFAULT '{}',
    untracked      text[]      NOT NULL DEFAULT '{}',
    record_changes boolean     NOT NULL DEFAULT false,
    strict         boolean,                 -- NULL: follow meta.strict_default
    fn_suffix      text        NOT NULL,    -- names of the generated capture functions
    columns        text[]      NOT NULL DEFAULT '{}', -- columns known when triggers were made
    tracked_at     timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT ON chrononaut.meta, chrononaut.tracked TO PUBLIC;

-- The activity table: the eight columns of the Python library (same names and types) plus
-- `operation`, which Python writers leave NULL. CREATE ... IF NOT EXISTS adopts a table the
-- Python library created; ADD COLUMN without a default rewrites no row.
CREATE TABLE IF NOT EXISTS {{activity_schema}}.chrononaut_activity (
    id         bigserial PRIMARY KEY,
    table_name text        NOT NULL,
    changed    timestamptz NOT NULL,
    version    integer     NOT NULL DEFAULT 0,
    key        jsonb       NOT NULL DEFAULT '{}',
    data       jsonb       NOT NULL DEFAULT '{}',
    user_info  jsonb       NOT NULL DEFAULT '{}',
    extra_info jsonb       NOT NULL DEFAULT '{}'
);
ALTER TABLE {{activity_schema}}.chrononaut_activity ADD COLUMN IF NOT EXISTS operation text;
-- `operation` has no CHECK constraint on purpose: only the capture functions write it, and a
-- CHECK expression is re-read for every statement that inserts history (~5 µs each).
-- The Python library's index; also serves the "history of this key" look-ups of the triggers.
CREATE INDEX IF NOT EXISTS ix_chrononaut_activity_key_table_name
    ON {{activity_schema}}.chrononaut_activity (key, table_name);
-- History reads: the versions of one record in time order, "the version in force at t" (a
-- backward scan that stops after one row), diffs, whole-table "as of t". The Python index
-- above cannot order by time: "as of t" on a record with 50k versions reads all of them.
-- This is chrononaut's only other index: every index costs every history write.
-- On an adopted activity table with many rows, building it here blocks history writes for the
-- duration of the build; create it beforehand, outside a transaction, with
--   CREATE INDEX CONCURRENTLY ix_chrononaut_activity_table_key_changed
--       ON chrononaut_activity (table_name, key, changed, version);
-- and this statement then finds it and does nothing.
CREATE INDEX IF NOT EXISTS ix_chrononaut_activity_table_key_changed
    ON {{activity_schema}}.chrononaut_activity (table_name, key, changed, version);

-- Nobody but the owner writes history directly; the capture functions run as the owner.
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON {{activity_schema}}.chrononaut_activity FROM PUBLIC;
GRANT SELECT, DELETE, TRUNCATE ON {{activity_schema}}.chrononaut_activity TO chrononaut_admin;

-- True when the session's login user may use an escape. `session_user` is used because the
-- capture functions run as their owner (SECURITY DEFINER), where current_user is the owner.
CREATE OR REPLACE FUNCTION chrononaut.escape_allowed() RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.pg_has_role(session_user, 'chrononaut_admin', 'MEMBER')
$$;

-- History is append-only: UPDATE always fails; DELETE and TRUNCATE fail unless the transaction
-- set chrononaut.allow_delete_history = 'on' and the login user is a member of chrononaut_admin.
CREATE OR REPLACE FUNCTION chrononaut.guard_activity() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        RAISE EXCEPTION 'chrononaut history is append-only: UPDATE of % is not allowed', TG_TABLE_NAME
            USING ERRCODE = 'CN002';
    END IF;
    IF current_setting('chrononaut.allow_delete_history', true) IS DISTINCT FROM 'on' THEN
        RAISE EXCEPTION 'chrononaut history is append-only: % of % is not allowed', TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'CN002',
                  HINT = 'members of chrononaut_admin may set chrononaut.allow_delete_history for one transaction';
    END IF;
    IF NOT chrononaut.escape_allowed() THEN
        RAISE EXCEPTION 'permission denied: deleting chrononaut history requires membership in chrononaut_admin'
            USING ERRCODE = '42501';
    END IF;
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS chrononaut_append_only ON {{activity_schema}}.chrononaut_activity;
CREATE TRIGGER chrononaut_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON {{activity_schema}}.chrononaut_activity
    FOR EACH STATEMENT EXECUTE FUNCTION chrononaut.guard_activity();

-- The context of the current transaction, read once per captured statement.
-- Returns suppressed = true when versioning is suppressed (after checking the privilege),
-- the user_info object, the extra_info object (providers' fields overlaid by explicit ones),
-- whether explicit change info is present (strict mode), and the per-record extras (or NULL).
-- Malformed settings raise CN004 naming the setting. The shape is checked before the cast so
-- that no exception block (a subtransaction per captured statement) is needed; text that
-- starts right but is not valid JSON still fails in the cast (22P02, reported by the library
-- as an invalid context).
CREATE OR REPLACE FUNCTION chrononaut.current_context(
    OUT suppressed boolean,
    OUT user_info jsonb,
    OUT extra_info jsonb,
    OUT has_extra boolean,
    OUT record_extra jsonb)
LANGUAGE plpgsql STABLE
-- No SET search_path here: a SET clause costs every captured statement ~7 µs. It runs with
-- the pinned search_path of the SECURITY DEFINER capture functions that call it, or as the
-- writer itself (record_change_info), where it has no rights the writer lacks.
AS $$
DECLARE
    auto_text     text := NULLIF(current_setting('chrononaut.extra_auto', true), '');
    explicit_text text := NULLIF(current_setting('chrononaut.extra', true), '');
    records_text  text := NULLIF(current_setting('chrononaut.record_extra', true), '');
    auto     jsonb := '{}';
    explicit jsonb := '{}';
BEGIN
    suppressed := current_setting('chrononaut.suppress', true) = 'on';
    IF suppressed THEN
        IF NOT chrononaut.escape_allowed() THEN
            RAISE EXCEPTION 'permission denied: suppressing versioning requires membership in chrononaut_admin'
                USING ERRCODE = '42501';
        END IF;
        RETURN;
    END IF;
    IF explicit_text IS NOT NULL THEN
        IF explicit_text !~ '^\s*\{' THEN
            RAISE EXCEPTION 'malformed chrononaut context: chrononaut.extra must be a JSON object, got %',
                left(explicit_text, 40) USING ERRCODE = 'CN004';
        END IF;
        explicit := explicit_text::jsonb;
    END IF;
    IF auto_text IS NOT NULL THEN
        IF auto_text !~ '^\s*\{' THEN
            RAISE EXCEPTION 'malformed chrononaut context: chrononaut.extra_auto must be a JSON object, got %',
                left(auto_text, 40) USING ERRCODE = 'CN004';
        END IF;
        auto := auto_text::jsonb;
    END IF;
    IF records_text IS NOT NULL THEN
        IF records_text !~ '^\s*\[' THEN
            RAISE EXCEPTION 'malformed chrononaut context: chrononaut.record_extra must be a JSON array, got %',
                left(records_text, 40) USING ERRCODE = 'CN004';
        END IF;
        record_extra := records_text::jsonb;
        IF EXISTS (SELECT 1 FROM jsonb_array_elements(record_extra) AS r(entry)
                   WHERE jsonb_typeof(r.entry) IS DISTINCT FROM 'object'
                      OR jsonb_typeof(r.entry -> 'table') IS DISTINCT FROM 'string'
                      OR jsonb_typeof(r.entry -> 'key') IS DISTINCT FROM 'object'
                      OR jsonb_typeof(r.entry -> 'extra') IS DISTINCT FROM 'object') THEN
            RAISE EXCEPTION 'malformed chrononaut context: chrononaut.record_extra entries must be {"table": text, "key": {...}, "extra": {...}}'
                USING ERRCODE = 'CN004';
        END IF;
    END IF;
    user_info := jsonb_build_object(
        'user_id', NULLIF(current_setting('chrononaut.user_id', true), ''),
        'remote_addr', NULLIF(current_setting('chrononaut.remote_addr', true), ''));
    extra_info := auto || explicit;
    has_extra := explicit <> '{}' OR jsonb_array_length(COALESCE(record_extra, '[]')) > 0;
END $$;

-- Raises the strict-mode error of a table (called by the capture functions when a write of a
-- strict table carries no extra change info; only on that error path).
CREATE OR REPLACE FUNCTION chrononaut.refuse_strict(table_name text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION 'strict mode: % refuses changes without change info', table_name
        USING ERRCODE = 'CN001',
              HINT = 'give a rationale or other extra change info in the change context';
END $$;

-- The entries of chrononaut.record_extra that name the table `relid`, as an array of
-- {"key": ..., "extra": ...}; NULL when there are none. Called once per captured statement,
-- so the per-row look-up below scans only this table's. An entry names the table by
--   * "relid": the table's oid, added by the library, which resolves "table" with the
--     session's search_path when it applies the context (the capture functions run with a
--     pinned search_path, where an unqualified name would not resolve);
--   * else "table" as a schema-qualified name, or as the history table_name (the bare name
--     for a table in public), for clients that set the setting by hand.
CREATE OR REPLACE FUNCTION chrononaut.record_extra_for(entries jsonb, relid oid)
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT jsonb_agg(r.entry)
    FROM jsonb_array_elements(entries) AS r(entry)
    WHERE CASE WHEN r.entry ? 'relid' THEN (r.entry ->> 'relid')::oid = relid
               ELSE r.entry ->> 'table' = (
                        SELECT CASE WHEN n.nspname = 'public' THEN c.relname::text
                                    ELSE format('%I.%I', n.nspname, c.relname) END
                        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                        WHERE c.oid = relid)
                    OR (strpos(r.entry ->> 'table', '.') > 0
                        AND pg_catalog.to_regclass(r.entry ->> 'table') = relid) END
$$;

-- The extra info that `entries` (from record_extra_for) give the record `key`, or '{}'.
CREATE OR REPLACE FUNCTION chrononaut.record_extra(entries jsonb, key jsonb)
RETURNS jsonb
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT COALESCE(jsonb_object_agg(e.k, e.v), '{}')
    FROM jsonb_array_elements(entries) AS r(entry),
         jsonb_each(r.entry -> 'extra') AS e(k, v)
    WHERE r.entry -> 'key' = key
$$;

-- BEFORE INSERT OR UPDATE row trigger of tables tracked with --record-changes: the context as
-- {"user_id", "remote_addr", "extra"} in change_info, and the time in changed.
CREATE OR REPLACE FUNCTION chrononaut.record_change_info() RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    ctx record;
BEGIN
    IF current_setting('chrononaut.fixup', true) = TG_RELID::text AND pg_trigger_depth() > 1 THEN
        RETURN NEW;  -- the insert capture correcting `version`: keep what the insert recorded
    END IF;
    ctx := chrononaut.current_context();
    IF ctx.suppressed THEN
        RETURN NEW;
    END IF;
    NEW.change_info := ctx.user_info;
    IF ctx.extra_info <> '{}' THEN
        NEW.change_info := NEW.change_info || jsonb_build_object('extra', ctx.extra_info);
    END IF;
    NEW.changed := clock_timestamp();
    RETURN NEW;
END $$;

-- Capture functions made by an earlier install may still be executable by PUBLIC (see
-- capture.sql for why they must not be).
DO $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
             WHERE p.pronamespace = 'chrononaut'::regnamespace AND p.proname LIKE 'capture\_%'
    LOOP
        EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', f);
    END LOOP;
END $$;

INSERT INTO chrononaut.meta (key, value) VALUES ('schema_version', '2')
    ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value;
INSERT INTO chrononaut.meta (key, value) VALUES ('activity_schema', {{activity_schema_literal}})
    ON CONFLICT (key) DO NOTHING;
INSERT INTO chrononaut.meta (key, value) VALUES ('strict_default', 'false')
    ON CONFLICT (key) DO NOTHING;
