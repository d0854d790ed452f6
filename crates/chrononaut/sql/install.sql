-- chrononaut schema, version 2 (2: lock events moved out of the activity table).
--
-- Run by `Chrononaut::install` / `chrononaut init` inside one transaction, after
-- install_start.sql and the DDL lock (sql/queries/ddl_lock.sql), or printed (with those two
-- first) by `chrononaut init --print-sql` for teams that apply migrations with their own tool.
-- Every statement is idempotent: running this file again upgrades in place and never loses a
-- row.
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
--   chrononaut.record_extra_relids   JSON array of the oids of record_extra's tables, in order
--                                    (written by the library; clients may leave it out)

CREATE SCHEMA IF NOT EXISTS chrononaut;
CREATE SCHEMA IF NOT EXISTS {{activity_schema}};
COMMENT ON SCHEMA chrononaut IS 'chrononaut internals: settings, tracked tables, capture functions';
REVOKE CREATE ON SCHEMA chrononaut FROM PUBLIC;
GRANT USAGE ON SCHEMA chrononaut TO PUBLIC;

-- The role whose members may use the two escapes (suppress versioning, delete history), and
-- the role whose members read all history (sql/visibility.sql), nothing more.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'chrononaut_admin') THEN
        CREATE ROLE chrononaut_admin NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    -- another database of this cluster created it at the same moment
    NULL;
END $$;
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'chrononaut_reader') THEN
        CREATE ROLE chrononaut_reader NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END $$;

-- chrononaut.meta (key/value settings: schema_version, activity_schema, strict_default) is
-- created by install_start.sql, which runs first and is followed by the DDL lock.

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
-- What the capture DDL of a table was made from (added in later releases; NULL until the
-- table's functions are regenerated): its history table_name, which no other tracked table may
-- share, and a fingerprint of the DDL, so that install regenerates exactly the tables whose
-- functions this library would make differently.
ALTER TABLE chrononaut.tracked ADD COLUMN IF NOT EXISTS history_name text;
ALTER TABLE chrononaut.tracked ADD COLUMN IF NOT EXISTS ddl_fingerprint text;
-- Tracked without a hash chain (`track --no-chain`): verify reports such a table as unchained.
ALTER TABLE chrononaut.tracked ADD COLUMN IF NOT EXISTS no_chain boolean NOT NULL DEFAULT false;
GRANT SELECT ON chrononaut.meta, chrononaut.tracked TO PUBLIC;

-- The insert capture's version fix-up in progress (see capture.sql): a row exists only inside
-- the transaction of the capture function that wrote it, for the duration of its own UPDATE.
-- Only chrononaut's functions (its owner) may write it, so no client can pass a write of its
-- own for the fix-up, however it nests its triggers; everyone may read it (the version
-- function runs as the writer).
CREATE TABLE IF NOT EXISTS chrononaut.fixups (
    relid oid NOT NULL
);
-- Looked up by relid (the capture functions run with enable_seqscan off).
CREATE INDEX IF NOT EXISTS fixups_relid ON chrononaut.fixups (relid);
REVOKE ALL ON chrononaut.fixups FROM PUBLIC;
GRANT SELECT ON chrononaut.fixups TO PUBLIC;

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
-- Every index costs every history write: chrononaut adds only this one and the next.
-- Its columns are (table_name, jsonb_hash(key), key, changed, version, id):
-- - `jsonb_hash(key)` (PostgreSQL's own hash of the key, the one its hash indexes use: equal
--   keys have equal hashes, `{"id": 1}` and `{"id": 1.0}` included) comes before the key so
--   that a btree step compares the key as an integer first. Comparing jsonb is slow (iterators
--   on every call), and PostgreSQL 15 compares every remaining entry of a leaf page against
--   the scan keys: the whole-table "as of" takes one step per record from the previous key to
--   the next one, and with the hash first that step compares integers only (keys of equal
--   hash, which are rare, are still told apart by the key beside it). Every per-key read and
--   look-up states `jsonb_hash(a.key) = jsonb_hash(<key>)` beside `a.key = <key>`, so that the
--   planner can use this index for it; records come out in (hash, key) order, not key order.
-- - `id` is its last key column: it orders the rows of equal (changed, version) that history
--   written by the Python library can hold, so the reads' `id` tie-break comes from the index
--   instead of a sort, and the whole-table "as of" finds each record's row id in an
--   index-only pass and fetches the row by the primary key.
-- Earlier releases made it on (table_name, key, changed, version[, id]): an index of this
-- name without the hash as its second column and `id` as its sixth and last is dropped here
-- and built again (the DO block below). On an adopted or upgraded activity table with many
-- rows, that build blocks history writes for its duration; build it beforehand, outside a
-- transaction, with
--   CREATE INDEX CONCURRENTLY ix_chrononaut_activity_table_key_changed_new
--       ON chrononaut_activity (table_name, jsonb_hash(key), key, changed, version, id);
--   DROP INDEX CONCURRENTLY IF EXISTS ix_chrononaut_activity_table_key_changed;
--   ALTER INDEX ix_chrononaut_activity_table_key_changed_new
--       RENAME TO ix_chrononaut_activity_table_key_changed;
-- and these statements then find it and do nothing. On a partitioned activity table the
-- index is made (and dropped) on every partition with it.
DO $$
BEGIN
    IF EXISTS (SELECT 1
               FROM pg_catalog.pg_class AS c
               JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
               JOIN pg_catalog.pg_index AS i ON i.indexrelid = c.oid
               WHERE n.nspname = {{activity_schema_literal}}
                 AND c.relname = 'ix_chrononaut_activity_table_key_changed'
                 AND (i.indnkeyatts <> 6
                      OR pg_catalog.pg_get_indexdef(c.oid, 2, false) <> 'jsonb_hash(key)'
                      OR (SELECT a.attname FROM pg_catalog.pg_attribute AS a
                          WHERE a.attrelid = i.indrelid AND a.attnum = i.indkey[5])
                         IS DISTINCT FROM 'id')) THEN
        DROP INDEX {{activity_schema}}.ix_chrononaut_activity_table_key_changed;
    END IF;
END $$;
CREATE INDEX IF NOT EXISTS ix_chrononaut_activity_table_key_changed
    ON {{activity_schema}}.chrononaut_activity
    (table_name, pg_catalog.jsonb_hash(key), key, changed, version, id);
-- Recent activity (newest first): a table's history rows in time order, for `chrononaut log
-- TABLE`, the history browser and Chrononaut::table_activity / activity (keyset pages on
-- (changed, id), scanned backwards). Without it "the newest 50 rows of a table" reads the
-- table's whole history. Activity across tables merges per-table probes of this same index
-- rather than adding one that leads with `changed`. Its write cost is in BENCHMARKS.md
-- ("Reads").
-- Partial on a predicate every row satisfies (`id` is the primary key), so that only queries
-- that state it can use it: the activity reads do (sql/history/activity_*.sql); the capture
-- functions' per-key look-ups, which PL/pgSQL plans once per session, possibly while a
-- table's history is still empty, never pick it over the (table_name, key, ...) index.
-- As for the index above, on a big adopted table create it beforehand with
--   CREATE INDEX CONCURRENTLY ix_chrononaut_activity_table_changed
--       ON chrononaut_activity (table_name, changed, id) WHERE id IS NOT NULL;
-- On a partitioned activity table, CREATE INDEX makes it on every partition.
CREATE INDEX IF NOT EXISTS ix_chrononaut_activity_table_changed
    ON {{activity_schema}}.chrononaut_activity (table_name, changed, id)
    WHERE id IS NOT NULL;

-- Nobody but the owner writes history directly; the capture functions run as the owner.
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON {{activity_schema}}.chrononaut_activity FROM PUBLIC;
GRANT SELECT, DELETE, TRUNCATE ON {{activity_schema}}.chrononaut_activity TO chrononaut_admin;
GRANT SELECT ON {{activity_schema}}.chrononaut_activity TO chrononaut_reader;

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
-- the user_info object ({"user_id", "remote_addr", "db_user"}: db_user is the login role,
-- session_user, which no setting can change), the extra_info object (providers' fields
-- overlaid by explicit ones), whether explicit change info is present (strict mode; per-record
-- extras count only for the records they name, see capture.sql), and the per-record extras (or
-- NULL).
-- Malformed or oversized settings raise CN004 naming the setting. Limits, in bytes of the
-- setting's text: user_id 256, remote_addr 64, extra and extra_auto 8192 each, record_extra
-- 65536 (record_extra_relids, written by the library beside it: 65536). The shape is checked
-- before the cast so that no exception block (a subtransaction per captured statement) is
-- needed; text that starts right but is not valid JSON still fails in the cast (22P02,
-- reported by the library as an invalid context).
--
-- No SET clause (it would cost every captured statement): it runs with the pinned search_path
-- of the SECURITY DEFINER capture functions that call it, and as the writer itself from
-- record_change_info, so every function, operator and type in it is qualified.
CREATE OR REPLACE FUNCTION chrononaut.current_context(
    OUT suppressed boolean,
    OUT user_info jsonb,
    OUT extra_info jsonb,
    OUT has_extra boolean,
    OUT record_extra jsonb)
LANGUAGE plpgsql STABLE
AS $chrononaut$
DECLARE
    user_text     pg_catalog.text := pg_catalog.current_setting('chrononaut.user_id', true);
    addr_text     pg_catalog.text := pg_catalog.current_setting('chrononaut.remote_addr', true);
    auto_text     pg_catalog.text := pg_catalog.current_setting('chrononaut.extra_auto', true);
    explicit_text pg_catalog.text := pg_catalog.current_setting('chrononaut.extra', true);
    records_text  pg_catalog.text := pg_catalog.current_setting('chrononaut.record_extra', true);
    relids_text   pg_catalog.text;
    auto     pg_catalog.jsonb := '{}'::pg_catalog.jsonb;
    explicit pg_catalog.jsonb := '{}'::pg_catalog.jsonb;
BEGIN
    suppressed := COALESCE(pg_catalog.current_setting('chrononaut.suppress', true), '')
                      OPERATOR(pg_catalog.=) 'on';
    IF suppressed THEN
        IF NOT chrononaut.escape_allowed() THEN
            RAISE EXCEPTION 'permission denied: suppressing versioning requires membership in chrononaut_admin'
                USING ERRCODE = '42501';
        END IF;
        RETURN;
    END IF;
    IF pg_catalog.octet_length(user_text) OPERATOR(pg_catalog.>) 256 THEN
        RAISE EXCEPTION 'malformed chrononaut context: chrononaut.user_id is longer than 256 bytes'
            USING ERRCODE = 'CN004';
    END IF;
    IF pg_catalog.octet_length(addr_text) OPERATOR(pg_catalog.>) 64 THEN
        RAISE EXCEPTION 'malformed chrononaut context: chrononaut.remote_addr is longer than 64 bytes'
            USING ERRCODE = 'CN004';
    END IF;
    IF explicit_text OPERATOR(pg_catalog.<>) '' THEN
        IF pg_catalog.octet_length(explicit_text) OPERATOR(pg_catalog.>) 8192 THEN
            RAISE EXCEPTION 'malformed chrononaut context: chrononaut.extra is longer than 8192 bytes'
                USING ERRCODE = 'CN004';
        END IF;
        IF explicit_text OPERATOR(pg_catalog.!~) E'^\\s*\\{' THEN
            RAISE EXCEPTION 'malformed chrononaut context: chrononaut.extra must be a JSON object, got %',
                pg_catalog.left(explicit_text, 40) USING ERRCODE = 'CN004';
        END IF;
        explicit := explicit_text::pg_catalog.jsonb;
    END IF;
    IF auto_text OPERATOR(pg_catalog.<>) '' THEN
        IF pg_catalog.octet_length(auto_text) OPERATOR(pg_catalog.>) 8192 THEN
            RAISE EXCEPTION 'malformed chrononaut context: chrononaut.extra_auto is longer than 8192 bytes'
                USING ERRCODE = 'CN004';
        END IF;
        IF auto_text OPERATOR(pg_catalog.!~) E'^\\s*\\{' THEN
            RAISE EXCEPTION 'malformed chrononaut context: chrononaut.extra_auto must be a JSON object, got %',
                pg_catalog.left(auto_text, 40) USING ERRCODE = 'CN004';
        END IF;
        auto := auto_text::pg_catalog.jsonb;
    END IF;
    IF records_text OPERATOR(pg_catalog.<>) '' THEN
        relids_text := pg_catalog.current_setting('chrononaut.record_extra_relids', true);
        IF pg_catalog.octet_length(records_text) OPERATOR(pg_catalog.>) 65536
           OR pg_catalog.octet_length(relids_text) OPERATOR(pg_catalog.>) 65536 THEN
            RAISE EXCEPTION 'malformed chrononaut context: chrononaut.record_extra is longer than 65536 bytes'
                USING ERRCODE = 'CN004';
        END IF;
        IF records_text OPERATOR(pg_catalog.!~) E'^\\s*\\[' THEN
            RAISE EXCEPTION 'malformed chrononaut context: chrononaut.record_extra must be a JSON array, got %',
                pg_catalog.left(records_text, 40) USING ERRCODE = 'CN004';
        END IF;
        record_extra := records_text::pg_catalog.jsonb;
        IF EXISTS (SELECT FROM pg_catalog.jsonb_array_elements(record_extra) AS r(entry)
                   WHERE COALESCE(pg_catalog.jsonb_typeof(r.entry), '') OPERATOR(pg_catalog.<>) 'object'
                      OR COALESCE(pg_catalog.jsonb_typeof(r.entry OPERATOR(pg_catalog.->) 'table'), '')
                             OPERATOR(pg_catalog.<>) 'string'
                      OR COALESCE(pg_catalog.jsonb_typeof(r.entry OPERATOR(pg_catalog.->) 'key'), '')
                             OPERATOR(pg_catalog.<>) 'object'
                      OR COALESCE(pg_catalog.jsonb_typeof(r.entry OPERATOR(pg_catalog.->) 'extra'), '')
                             OPERATOR(pg_catalog.<>) 'object') THEN
            RAISE EXCEPTION 'malformed chrononaut context: chrononaut.record_extra entries must be {"table": text, "key": {...}, "extra": {...}}'
                USING ERRCODE = 'CN004';
        END IF;
        -- The library resolves each entry's table with the session's search_path when it
        -- applies the context and sends the oids beside the entries (the capture functions
        -- run with a pinned search_path, where an unqualified name would not resolve).
        IF relids_text OPERATOR(pg_catalog.<>) '' THEN
            IF relids_text OPERATOR(pg_catalog.!~) E'^\\s*\\[' THEN
                RAISE EXCEPTION 'malformed chrononaut context: chrononaut.record_extra_relids must be a JSON array'
                    USING ERRCODE = 'CN004';
            END IF;
            SELECT pg_catalog.jsonb_agg(CASE WHEN pg_catalog.jsonb_typeof(i.relid) OPERATOR(pg_catalog.=) 'number'
                                             THEN r.entry OPERATOR(pg_catalog.||)
                                                  pg_catalog.jsonb_build_object('relid', i.relid)
                                             ELSE r.entry END ORDER BY r.n)
            INTO record_extra
            FROM pg_catalog.jsonb_array_elements(record_extra) WITH ORDINALITY AS r(entry, n)
            LEFT JOIN pg_catalog.jsonb_array_elements(relids_text::pg_catalog.jsonb)
                          WITH ORDINALITY AS i(relid, n) ON i.n OPERATOR(pg_catalog.=) r.n;
        END IF;
    END IF;
    user_info := pg_catalog.jsonb_build_object(
        'user_id', CASE WHEN user_text OPERATOR(pg_catalog.<>) '' THEN user_text END,
        'remote_addr', CASE WHEN addr_text OPERATOR(pg_catalog.<>) '' THEN addr_text END,
        'db_user', SESSION_USER);
    extra_info := auto OPERATOR(pg_catalog.||) explicit;
    has_extra := explicit OPERATOR(pg_catalog.<>) '{}'::pg_catalog.jsonb;
END $chrononaut$;

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
-- {"user_id", "remote_addr", "db_user", "extra"} in change_info, and the time in changed.
-- Runs as the writer, once per row, without a SET clause: everything in it is qualified.
CREATE OR REPLACE FUNCTION chrononaut.record_change_info() RETURNS trigger
LANGUAGE plpgsql
AS $chrononaut$
DECLARE
    ctx record;
BEGIN
    IF pg_catalog.pg_trigger_depth() OPERATOR(pg_catalog.>) 1
       AND EXISTS (SELECT FROM chrononaut.fixups AS f WHERE f.relid OPERATOR(pg_catalog.=) TG_RELID) THEN
        RETURN NEW;  -- the insert capture correcting `version`: keep what the insert recorded
    END IF;
    ctx := chrononaut.current_context();
    IF ctx.suppressed THEN
        RETURN NEW;
    END IF;
    NEW.change_info := ctx.user_info;
    IF ctx.extra_info OPERATOR(pg_catalog.<>) '{}'::pg_catalog.jsonb THEN
        NEW.change_info := NEW.change_info OPERATOR(pg_catalog.||)
                           pg_catalog.jsonb_build_object('extra', ctx.extra_info);
    END IF;
    NEW.changed := pg_catalog.clock_timestamp();
    RETURN NEW;
END $chrononaut$;

-- Capture functions made by an earlier install may still be executable by PUBLIC (see
-- capture.sql for why they must not be).
DO $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
             WHERE p.pronamespace = 'chrononaut'::regnamespace AND p.proname LIKE E'capture\\_%'
    LOOP
        EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', f);
    END LOOP;
END $$;

-- (SCHEMA_VERSION of src/install.rs; 3: tracked.no_chain; 4: the SECURITY DEFINER reads of
-- sql/history/functions.sql, which the library's reads need, and chrononaut_reader)
INSERT INTO chrononaut.meta (key, value) VALUES ('schema_version', {{schema_version}})
    ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value;
INSERT INTO chrononaut.meta (key, value) VALUES ('activity_schema', {{activity_schema_literal}})
    ON CONFLICT (key) DO NOTHING;
INSERT INTO chrononaut.meta (key, value) VALUES ('strict_default', 'false')
    ON CONFLICT (key) DO NOTHING;
