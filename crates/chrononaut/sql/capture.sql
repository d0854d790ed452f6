-- Capture functions and triggers for ONE tracked table.
--
-- `track` fills this template and runs it in the same transaction as the rest of the tracking
-- DDL. Each table gets its own functions so that every query below is static SQL that PL/pgSQL
-- plans once per session (dynamic SQL would be re-planned on every statement).
--
-- Design (see BENCHMARKS.md for what each choice costs):
--   * INSERT: no row trigger at all. `version` defaults to 0; one statement-level trigger with a
--     transition table writes the history rows in a single INSERT ... SELECT.
--   * UPDATE: a tiny per-table BEFORE row trigger bumps `version` when a tracked or hidden
--     column changed; one statement-level trigger writes the history of the rows that changed.
--   * DELETE: one statement-level trigger writes the last state with version + 1.
--
-- Placeholders (every identifier is quoted by the library, every literal escaped):
--   <table>            the tracked table, schema-qualified and quoted
--   <activity>         the activity table, schema-qualified and quoted
--   <table_name>       the history's table_name as a SQL literal
--   <fn_insert> <fn_update> <fn_delete> <fn_version>   the functions, qualified and quoted
--   <settings>         extra SET clauses for the functions (TimeZone UTC when needed)
--   <strict>           true / false
--   <ctx> <rec> <ts> <cnt> <fix>              PL/pgSQL variable names that no column uses
--   <n> <o> <s> <v> <h>              table aliases that no column uses
--   <key_n> <key_o>   jsonb_build_object of the primary-key columns of alias n / o
--   <data_n> <data_o> the snapshot of alias n / o (hidden and untracked columns removed)
--   <hidden_set_n>      text[] of the hidden columns of n that are not NULL (insert)
--   <hidden_changed>    text[] of the hidden columns that differ between o and n (update)
--   <changed_o_n>       true when a tracked or hidden column differs between o and n
--   <pk_join_o_n>       o's primary key equals n's
--   <o_missing>         no old row has n's primary key (the key itself changed)
--   <pk_cols_n>         n's primary-key columns as pk_1, pk_2, ...
--   <pk_join_t_v>       the tracked table (alias t) matches v.pk_1, v.pk_2, ...
--   <changed_at_n>      the history time of an insert/update: the statement's clock, or the
--                         row's `changed` column for tables tracked with --record-changes
--   <when_changed>      true when a tracked or hidden column differs between OLD and NEW
--   <key_moved>         true when the primary key differs between OLD and NEW
--   <pk_join_x_y>       cn_x's primary key equals cn_y's
--   <record_changes_trigger>  the change_info trigger, or nothing
--   <key_old>          jsonb_build_object of the primary-key columns of OLD (row triggers)
--   <key_r>            the same of the parameter r (the key function)
--   <fn_key> <fn_lock_check> <fn_lock_triggers>   the locking functions, qualified and quoted
--   <relid>            the table's oid, as a number
--   <lk>               PL/pgSQL variable name that no column uses
--
-- Tamper evidence: every history row gets prev_hash (the hash of the record's previous row,
-- one backward probe of ix_chrononaut_activity_table_key_changed per row, ordered by the
-- index's own columns: adding `id` as a tie-breaker costs an incremental sort per probe, and
-- two rows of one record never share `changed` and `version`, as their writes are serialised
-- by the row lock and clock_timestamp() moves between them) and
-- hash = chrononaut.chain_hash(prev_hash, ...) (sql/integrity/functions.sql). The column
-- values are computed once in a subquery fenced with OFFSET 0, so that the planner does not
-- copy the snapshot expressions into the hash call and evaluate them twice.

CREATE OR REPLACE FUNCTION {{fn_insert}}() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp {{settings}}
AS $chrononaut$
DECLARE
    {{ctx}} record;
    {{rec}} jsonb;
    {{ts}} timestamptz := clock_timestamp();
BEGIN
    {{ctx}} := chrononaut.current_context();
    IF {{ctx}}.suppressed THEN
        RETURN NULL;
    END IF;
    IF {{strict}} AND NOT {{ctx}}.has_extra AND EXISTS (SELECT 1 FROM chrononaut_new) THEN
        PERFORM chrononaut.refuse_strict({{table_name}});
    END IF;
    IF {{ctx}}.record_extra IS NOT NULL THEN  -- rare: skip the look-up (~40 µs) otherwise
        {{rec}} := chrononaut.record_extra_for({{ctx}}.record_extra, TG_RELID);
    END IF;

    -- Fast path, nearly always taken: new keys inserted without an explicit version get
    -- version 0 and are written in one plain INSERT ... SELECT.
    IF NOT EXISTS (SELECT 1 FROM chrononaut_new AS {{n}}
                   WHERE {{n}}.version IS DISTINCT FROM 0
                      OR EXISTS (SELECT 1 FROM {{activity}} AS a
                                 WHERE a.table_name = {{table_name}} AND a.key = {{key_n}})) THEN
        -- (A new key has no previous row: prev_hash is NULL, no look-up needed.)
        INSERT INTO {{activity}} (table_name, changed, version, key, data, user_info, extra_info, operation,
                                  prev_hash, hash)
        SELECT {{s}}.table_name, {{s}}.changed, {{s}}.version, {{s}}.key, {{s}}.data, {{s}}.user_info,
               {{s}}.extra_info, {{s}}.operation, NULL,
               chrononaut.chain_hash(NULL, {{s}}.table_name, {{s}}.key, {{s}}.version, {{s}}.changed,
                                     {{s}}.data, {{s}}.user_info, {{s}}.extra_info, {{s}}.operation)
        FROM (
            SELECT {{table_name}}::text AS table_name, {{changed_at_n}} AS changed, 0 AS version,
                   {{key_n}} AS key, {{data_n}} AS data,
                   {{ctx}}.user_info AS user_info,
                   {{ctx}}.extra_info
                       || CASE WHEN {{rec}} IS NULL THEN '{}'::jsonb
                               ELSE chrononaut.record_extra({{rec}}, {{key_n}}) END
                       || CASE WHEN cardinality({{hidden_set_n}}) > 0
                               THEN jsonb_build_object('hidden_cols_changed', {{hidden_set_n}})
                               ELSE '{}'::jsonb END AS extra_info,
                   'insert'::text AS operation
            FROM chrononaut_new AS {{n}}
            OFFSET 0
        ) AS {{s}};
        RETURN NULL;
    END IF;

    -- A key that already has history (deleted earlier, now inserted again) continues its
    -- version sequence after the last recorded version; a new key starts at 0. The row's
    -- `version` column is set to match when it differs (rare: re-inserts, explicit versions).
    -- That fix-up UPDATE is marked (chrononaut.fixup = this table) so that the update capture
    -- does not record it as a change of its own.
    PERFORM pg_catalog.set_config('chrononaut.fixup', TG_RELID::text, true);
    WITH {{s}} AS (
        SELECT {{key_n}} AS key, {{data_n}} AS data, {{hidden_set_n}} AS hidden,
               {{changed_at_n}} AS changed_at, {{n}}.version AS row_version, {{pk_cols_n}}
        FROM chrononaut_new AS {{n}}
    ), {{v}} AS (
        SELECT {{s}}.*,
               COALESCE((SELECT max(a.version) + 1 FROM {{activity}} AS a
                         WHERE a.key = {{s}}.key AND a.table_name = {{table_name}}), 0) AS version,
               (SELECT a.hash FROM {{activity}} AS a
                WHERE a.table_name = {{table_name}} AND a.key = {{s}}.key
                ORDER BY a.changed DESC, a.version DESC LIMIT 1) AS prev
        FROM {{s}}
    ), {{h}} AS (
        INSERT INTO {{activity}} (table_name, changed, version, key, data, user_info, extra_info, operation,
                                  prev_hash, hash)
        SELECT {{w}}.table_name, {{w}}.changed, {{w}}.version, {{w}}.key, {{w}}.data, {{w}}.user_info,
               {{w}}.extra_info, {{w}}.operation, {{w}}.prev,
               chrononaut.chain_hash({{w}}.prev, {{w}}.table_name, {{w}}.key, {{w}}.version, {{w}}.changed,
                                     {{w}}.data, {{w}}.user_info, {{w}}.extra_info, {{w}}.operation)
        FROM (
            SELECT {{table_name}}::text AS table_name, {{v}}.changed_at AS changed, {{v}}.version,
                   {{v}}.key, {{v}}.data || jsonb_build_object('version', {{v}}.version) AS data,
                   {{ctx}}.user_info AS user_info,
                   {{ctx}}.extra_info
                       || CASE WHEN {{rec}} IS NULL THEN '{}'::jsonb
                               ELSE chrononaut.record_extra({{rec}}, {{v}}.key) END
                       || CASE WHEN cardinality({{v}}.hidden) > 0
                               THEN jsonb_build_object('hidden_cols_changed', {{v}}.hidden)
                               ELSE '{}'::jsonb END AS extra_info,
                   'insert'::text AS operation, {{v}}.prev
            FROM {{v}}
            OFFSET 0
        ) AS {{w}}
    )
    UPDATE {{table}} AS t SET version = {{v}}.version
    FROM {{v}}
    WHERE {{v}}.row_version IS DISTINCT FROM {{v}}.version AND {{pk_join_t_v}};
    PERFORM pg_catalog.set_config('chrononaut.fixup', '', true);
    RETURN NULL;
END
$chrononaut$;

CREATE OR REPLACE FUNCTION {{fn_update}}() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp {{settings}}
AS $chrononaut$
DECLARE
    {{ctx}} record;
    {{rec}} jsonb;
    {{ts}} timestamptz := clock_timestamp();
    {{cnt}} bigint;
    {{fix}} boolean;
BEGIN
    -- The insert capture's own version fix-up (a nested UPDATE that changes only `version`,
    -- already recorded) is recognised by its flag AND its trigger depth, and even then only
    -- rows whose tracked content is unchanged are skipped: a client that sets the flag itself
    -- cannot hide a real change.
    {{fix}} := current_setting('chrononaut.fixup', true) = TG_RELID::text AND pg_trigger_depth() > 1;
    {{ctx}} := chrononaut.current_context();
    IF {{ctx}}.suppressed THEN
        RETURN NULL;
    END IF;
    IF {{ctx}}.record_extra IS NOT NULL THEN  -- rare: skip the look-up (~40 µs) otherwise
        {{rec}} := chrononaut.record_extra_for({{ctx}}.record_extra, TG_RELID);
    END IF;

    -- Rows whose tracked or hidden columns changed (their version was bumped by the BEFORE
    -- trigger). Old and new rows are paired by primary key, which pairs them wrongly when the
    -- statement changed keys (UPDATE ... SET id = id + 1): a row is then recorded when no old
    -- row has its key, or when its version differs from the old row's with its key (the BEFORE
    -- trigger bumped it), so a moved row is not lost even when its data equals its neighbour's.
    -- A version that differs otherwise (set explicitly under chrononaut.suppress, where no
    -- history is written anyway) is recorded too, which keeps the row's version equal to its
    -- latest history version. A client's own `SET version = n` never gets here with another
    -- number: the version function refuses it as stale (CN005).
    INSERT INTO {{activity}} (table_name, changed, version, key, data, user_info, extra_info, operation,
                              prev_hash, hash)
    SELECT {{s}}.table_name, {{s}}.changed, {{s}}.version, {{s}}.key, {{s}}.data, {{s}}.user_info,
           {{s}}.extra_info, {{s}}.operation, {{h}}.hash,
           chrononaut.chain_hash({{h}}.hash, {{s}}.table_name, {{s}}.key, {{s}}.version, {{s}}.changed,
                                 {{s}}.data, {{s}}.user_info, {{s}}.extra_info, {{s}}.operation)
    FROM (
        SELECT {{table_name}}::text AS table_name, {{changed_at_n}} AS changed, {{n}}.version AS version,
               {{key_n}} AS key, {{data_n}} AS data,
               {{ctx}}.user_info AS user_info,
               {{ctx}}.extra_info
                   || CASE WHEN {{rec}} IS NULL THEN '{}'::jsonb
                           ELSE chrononaut.record_extra({{rec}}, {{key_n}}) END
                   || CASE WHEN cardinality({{hidden_changed}}) > 0
                           THEN jsonb_build_object('hidden_cols_changed', {{hidden_changed}})
                           ELSE '{}'::jsonb END AS extra_info,
               'update'::text AS operation
        FROM chrononaut_new AS {{n}}
        LEFT JOIN chrononaut_old AS {{o}} ON {{pk_join_o_n}}
        WHERE {{o_missing}} OR ({{changed_o_n}})
           OR (NOT {{fix}} AND {{n}}.version IS DISTINCT FROM {{o}}.version)
        OFFSET 0
    ) AS {{s}}
    LEFT JOIN LATERAL (
        SELECT a.hash FROM {{activity}} AS a
        WHERE a.table_name = {{table_name}} AND a.key = {{s}}.key
        ORDER BY a.changed DESC, a.version DESC LIMIT 1
    ) AS {{h}} ON true;
    GET DIAGNOSTICS {{cnt}} = ROW_COUNT;
    IF {{strict}} AND {{cnt}} > 0 AND NOT {{ctx}}.has_extra THEN
        PERFORM chrononaut.refuse_strict({{table_name}});
    END IF;
    -- An UPDATE that changed primary keys (flagged by the version function) ends the records
    -- of the keys that no row has any more, with a delete version as a DELETE would: without
    -- it, the old key would still look alive (to as_of, for one). Cheap when no key moved.
    IF current_setting('chrononaut.key_moved', true) = TG_RELID::text THEN
        PERFORM pg_catalog.set_config('chrononaut.key_moved', '', true);
        {{delete_rows_from_vanished}}
    END IF;
    RETURN NULL;
END
$chrononaut$;

CREATE OR REPLACE FUNCTION {{fn_delete}}() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp {{settings}}
AS $chrononaut$
DECLARE
    {{ctx}} record;
    {{rec}} jsonb;
    {{ts}} timestamptz := clock_timestamp();
    {{cnt}} bigint;
BEGIN
    {{ctx}} := chrononaut.current_context();
    IF {{ctx}}.suppressed THEN
        RETURN NULL;
    END IF;
    IF {{ctx}}.record_extra IS NOT NULL THEN  -- rare: skip the look-up (~40 µs) otherwise
        {{rec}} := chrononaut.record_extra_for({{ctx}}.record_extra, TG_RELID);
    END IF;

    -- The last state, as version + 1 (NULL, never versioned, -> 1): capture_delete_rows.sql.
    IF TG_OP = 'TRUNCATE' THEN
        -- TRUNCATE gives triggers no rows: read them from the table before it is emptied
        -- (this trigger runs BEFORE TRUNCATE), so that a TRUNCATE leaves a trace like a DELETE.
        {{delete_rows_from_table}}
    ELSE
        {{delete_rows_from_old}}
    END IF;
    GET DIAGNOSTICS {{cnt}} = ROW_COUNT;
    IF {{strict}} AND {{cnt}} > 0 AND NOT {{ctx}}.has_extra THEN
        PERFORM chrononaut.refuse_strict({{table_name}});
    END IF;
    RETURN NULL;
END
$chrononaut$;

-- The capture functions run as their owner (they write history that the table's writers may
-- not write themselves). Firing a trigger needs no EXECUTE privilege, but creating one does:
-- without this REVOKE anyone could attach a capture function to a table of their own and
-- write forged history (and, through the re-insert fix-up, update this table) as the owner.
REVOKE EXECUTE ON FUNCTION {{fn_insert}}(), {{fn_update}}(), {{fn_delete}}() FROM PUBLIC;

-- The version bump: a per-table function (its comparison is planned once per session; a
-- trigger WHEN clause would be re-read from the catalog on every statement). Runs as the
-- writer, once per updated row, so it stays minimal and has no SET clause.
--
-- Optimistic concurrency: a writer that read version n makes its update conditional on it by
-- setting `version = n` in the same UPDATE. When the row has moved on (NEW.version was set to
-- something other than OLD.version) the update fails with CN005 and nothing changes; when n is
-- the current version the update proceeds and bumps as usual. Exempt (the rare first branch):
-- the insert capture's own fix-up (flag + nested trigger depth, as in the update capture) and
-- suppressed writes (members of chrononaut_admin only; checked by the capture).
CREATE OR REPLACE FUNCTION {{fn_version}}() RETURNS trigger
LANGUAGE plpgsql
AS $chrononaut$
BEGIN
    IF NEW.version IS DISTINCT FROM OLD.version THEN
        IF (pg_catalog.current_setting('chrononaut.fixup', true) = TG_RELID::text
                AND pg_catalog.pg_trigger_depth() > 1)
           OR pg_catalog.current_setting('chrononaut.suppress', true) = 'on' THEN
            RETURN NEW;
        END IF;
        RAISE EXCEPTION 'stale version: % % is at version %, the update expected version %',
            {{table_name}}, {{key_old}}, COALESCE(OLD.version::text, 'NULL'), COALESCE(NEW.version::text, 'NULL')
            USING ERRCODE = 'CN005',
                  HINT = 'someone changed the record since you read it: read it again and retry';
    END IF;
    IF ({{when_changed}})
       AND pg_catalog.current_setting('chrononaut.suppress', true) IS DISTINCT FROM 'on' THEN
        NEW.version := COALESCE(OLD.version, 0) OPERATOR(pg_catalog.+) 1;
        IF {{key_moved}} THEN
            -- the primary key changes: tell the statement capture to end the old key's record
            PERFORM pg_catalog.set_config('chrononaut.key_moved', TG_RELID::text, true);
        END IF;
    END IF;
    RETURN NEW;
END
$chrononaut$;

CREATE TRIGGER zz_chrononaut_version
    BEFORE UPDATE ON {{table}}
    FOR EACH ROW EXECUTE FUNCTION {{fn_version}}();

CREATE TRIGGER chrononaut_capture_insert
    AFTER INSERT ON {{table}}
    REFERENCING NEW TABLE AS chrononaut_new
    FOR EACH STATEMENT EXECUTE FUNCTION {{fn_insert}}();

CREATE TRIGGER chrononaut_capture_update
    AFTER UPDATE ON {{table}}
    REFERENCING OLD TABLE AS chrononaut_old NEW TABLE AS chrononaut_new
    FOR EACH STATEMENT EXECUTE FUNCTION {{fn_update}}();

CREATE TRIGGER chrononaut_capture_delete
    AFTER DELETE ON {{table}}
    REFERENCING OLD TABLE AS chrononaut_old
    FOR EACH STATEMENT EXECUTE FUNCTION {{fn_delete}}();

CREATE TRIGGER chrononaut_capture_truncate
    BEFORE TRUNCATE ON {{table}}
    FOR EACH STATEMENT EXECUTE FUNCTION {{fn_delete}}();

{{record_changes_trigger}}

-- Record locks (sql/locking/functions.sql). The functions exist for every tracked table; the
-- triggers exist only while the table has a lock, so unlocked tables pay nothing.
--
-- The history key of a row of this table, as the capture writes it (used by lock/unlock to
-- find the key of a record from a key given in any form).
CREATE OR REPLACE FUNCTION {{fn_key}}(r {{table}}) RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp {{settings}}
AS $chrononaut$
    SELECT {{key_r}}
$chrononaut$;

-- BEFORE UPDATE OR DELETE row trigger while the table has a lock: refuses changes of a locked
-- record (CN006), naming who locked it, when and why. Runs as the writer with a pinned
-- search_path, so that a writer cannot slip a function or operator of its own into the check.
CREATE OR REPLACE FUNCTION {{fn_lock_check}}() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp {{settings}}
AS $chrononaut$
DECLARE
    {{lk}} record;
BEGIN
    SELECT l.table_name, l.key, l.locked_by, l.user_id, l.reason, l.locked_at INTO {{lk}}
    FROM chrononaut.locks AS l
    WHERE l.relid = TG_RELID AND l.key = {{key_old}};
    IF FOUND THEN
        RAISE EXCEPTION 'record % % is locked by % since % UTC: %',
            {{lk}}.table_name, {{lk}}.key,
            {{lk}}.locked_by || CASE WHEN {{lk}}.user_id IS NULL THEN ''
                                     ELSE ' (user ' || {{lk}}.user_id || ')' END,
            to_char({{lk}}.locked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), {{lk}}.reason
            USING ERRCODE = 'CN006',
                  HINT = 'the user who locked it or a member of chrononaut_admin can unlock it (chrononaut unlock)';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END
$chrononaut$;

-- Puts the lock triggers of this table in the state its locks need. Runs as the table's owner
-- (creating a trigger needs ownership); called by chrononaut.lock / chrononaut.unlock only.
--   records: the table has locked records -> the row check, and a statement check on TRUNCATE
--   frozen:  the whole table is locked     -> the statement check on every write
-- Without locks no trigger is left: unlocked tables pay nothing. A table with locked records
-- but not frozen pays only the row check on UPDATE and DELETE (INSERT pays nothing).
CREATE OR REPLACE FUNCTION {{fn_lock_triggers}}(records boolean, frozen boolean) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $chrononaut$
DECLARE
    has_row boolean;
    stmt_type integer;  -- tgtype of the statement check; bit 4: INSERT (NULL: no trigger)
BEGIN
    SELECT bool_or(tgname = 'chrononaut_lock_check'),
           max(tgtype::integer) FILTER (WHERE tgname = 'chrononaut_lock_statement')
    INTO has_row, stmt_type
    FROM pg_catalog.pg_trigger
    WHERE tgrelid = {{relid}}::oid AND tgname IN ('chrononaut_lock_check', 'chrononaut_lock_statement');
    IF records AND NOT COALESCE(has_row, false) THEN
        CREATE TRIGGER chrononaut_lock_check
            BEFORE UPDATE OR DELETE ON {{table}}
            FOR EACH ROW EXECUTE FUNCTION {{fn_lock_check}}();
    ELSIF NOT records AND COALESCE(has_row, false) THEN
        DROP TRIGGER chrononaut_lock_check ON {{table}};
    END IF;
    IF frozen AND (stmt_type IS NULL OR stmt_type & 4 = 0) THEN
        DROP TRIGGER IF EXISTS chrononaut_lock_statement ON {{table}};
        CREATE TRIGGER chrononaut_lock_statement
            BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON {{table}}
            FOR EACH STATEMENT EXECUTE FUNCTION chrononaut.check_table_lock();
    ELSIF NOT frozen AND records AND (stmt_type IS NULL OR stmt_type & 4 <> 0) THEN
        DROP TRIGGER IF EXISTS chrononaut_lock_statement ON {{table}};
        CREATE TRIGGER chrononaut_lock_statement
            BEFORE TRUNCATE ON {{table}}
            FOR EACH STATEMENT EXECUTE FUNCTION chrononaut.check_table_lock();
    ELSIF NOT frozen AND NOT records AND stmt_type IS NOT NULL THEN
        DROP TRIGGER chrononaut_lock_statement ON {{table}};
    END IF;
END
$chrononaut$;
REVOKE EXECUTE ON FUNCTION {{fn_lock_triggers}}(boolean, boolean) FROM PUBLIC;
-- chrononaut.lock/unlock run as the role that installed chrononaut: let it call this and the
-- key function (an install revokes EXECUTE on every capture_* function from PUBLIC).
DO $chrononaut$
DECLARE
    installer text := (SELECT pg_catalog.pg_get_userbyid(p.proowner) FROM pg_catalog.pg_proc p
                       WHERE p.oid = 'chrononaut.lock(regclass, jsonb, text)'::regprocedure);
BEGIN
    EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s, %s TO %I',
        '{{fn_lock_triggers}}(boolean, boolean)'::regprocedure,
        '{{fn_key}}'::regproc::oid::regprocedure, installer);
END
$chrononaut$;

-- Re-tracking drops every trigger first: put the lock triggers back while locks exist.
SELECT {{fn_lock_triggers}}(
           EXISTS (SELECT 1 FROM chrononaut.locks WHERE relid = {{relid}}::oid AND key IS NOT NULL),
           EXISTS (SELECT 1 FROM chrononaut.locks WHERE relid = {{relid}}::oid AND key IS NULL))
WHERE EXISTS (SELECT 1 FROM chrononaut.locks WHERE relid = {{relid}}::oid);
