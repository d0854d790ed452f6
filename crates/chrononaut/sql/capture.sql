-- Capture functions and triggers for ONE tracked table.
--
-- `track` fills this template (src/capture.rs) and runs it in the same transaction as the rest
-- of the tracking DDL. Each table gets its own functions so that every query below is static
-- SQL that PL/pgSQL plans once per session (dynamic SQL would be re-planned on every statement).
--
-- Design (BENCHMARKS.md has what each choice costs):
--   * INSERT: no row trigger. `version` defaults to 0; one statement-level trigger with a
--     transition table writes the history rows in one INSERT ... SELECT, with one probe of the
--     history index per row (a key that has history continues its versions; prev_hash).
--   * UPDATE: a tiny per-table BEFORE row trigger bumps `version` when a tracked or hidden
--     column changed; one statement-level trigger writes the history of the rows that changed,
--     one probe per written row.
--   * DELETE (and TRUNCATE): one statement-level trigger writes the last state as version + 1.
--   * Where a record's previous history row comes from: on an unpartitioned activity table, a
--     probe of the history index (probe/*.sql, chain/probe.sql); on a partitioned one, where
--     that probe would search every partition, the record's head in chrononaut.heads
--     (heads/*.sql), which each capture statement moves in the same statement.
--
-- Trust (README "Security"):
--   * The three capture functions run as their owner (SECURITY DEFINER): writers cannot write
--     history themselves. Their search_path is pinned, so nothing a writer defines can run in
--     them; enable_seqscan and enable_sort are off in them, so that no plan they cache (a plan
--     outlives the statistics it was made with) reads the history of a whole table or sorts
--     it: every history read is a per-key probe of ix_chrononaut_activity_table_key_changed
--     in index order (tests/capture_plans.rs). jit is off: a disabled plan node's cost would
--     otherwise push small statements over jit_above_cost and compile them on every call.
--   * The version function runs as the writer, once per row. It has no SET clause (it would
--     cost every row); instead every function, operator and type in it is qualified with
--     pg_catalog, and rows are compared as records (record_eq uses each type's own btree
--     equality, never an operator found by name), so a writer's search_path cannot change what
--     it does, not even the writer's own. The lock check runs as the owner (it must see every
--     lock, sql/visibility.sql), search_path pinned.
--   * Nothing a client can set tells these functions that a write is chrononaut's own: the
--     insert capture's version fix-up (below) is recognised by a row of chrononaut.fixups that
--     only the capture functions can write, visible only inside the transaction writing it.
--
-- Placeholders (values built by src/capture.rs from quoted identifiers and escaped literals):
--   <table> the table, qualified and quoted     <relid> its oid
--   <activity> the activity table, quoted        <table_name> history table_name, a literal
--   <fn_*> the per-table functions               <definer_settings> SET clauses of the
--                                                  capture functions
--   <strict> true / false
--   <ctx> <rec> <ts> <cnt> <lk>          PL/pgSQL variables named unlike any column
--   <n> <o> <s> <p> <t>                  table aliases (cn_*)
--   <key_n> <key_o> <key_new> <key_old> <key_r>   the history key of a row (jsonb)
--   <data_n> <data_o>                          a row's snapshot without hidden/untracked
--   <data_n_version>                             the same with "version" set to <s>.version
--   <extra_insert> <extra_update> <extra_delete>  extra_info of a written row
--   <changed_o_n>                                a tracked or hidden column differs
--   <when_changed>                               the same, OLD against NEW
--   <pk_join_o_n> <pk_join_t_s> <pk_join_x_y>  primary keys equal (the key index's own
--                                                  operators)
--   <pk_cols_n>                                  n's primary-key columns as pk_1, pk_2, ...
--   <o_missing>                                  no old row has n's primary key
--   <changed_at_n>                               the history time of an insert or update
--   <delete_rows_*>                              capture_delete_rows.sql, per source
--   <chain_insert> <chain_update> <chain_delete> prev_hash and hash of a written row
--                                                  (chain/link.sql; `NULL, NULL` with --no-chain)
--   <chain_probe>                                the look-up of the record's previous hash
--                                                  (chain/probe.sql or heads/latest.sql;
--                                                  nothing with --no-chain)
--   <insert_probe> <fixup_probe>                 the insert's look-ups of a key's history
--                                                  (probe/*.sql or heads/insert.sql, fixup.sql)
--   <heads_write>                                heads/write.sql after every history INSERT
--                                                  (partitioned activity table), or nothing
--   <record_changes_trigger>                     the change_info trigger, or nothing

CREATE OR REPLACE FUNCTION {{fn_insert}}() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
{{definer_settings}}
AS $chrononaut$
DECLARE
    {{ctx}} record;
    {{rec}} jsonb;
    {{ts}} timestamptz := clock_timestamp();
    {{cnt}} record;
BEGIN
    {{ctx}} := chrononaut.current_context();
    IF {{ctx}}.suppressed THEN
        RETURN NULL;
    END IF;
    IF {{ctx}}.record_extra IS NOT NULL THEN  -- rare: skip the look-up otherwise
        {{rec}} := chrononaut.record_extra_for({{ctx}}.record_extra, TG_RELID);
    END IF;

    -- One history row per inserted row. A key without history starts at version 0; a key
    -- that has history (deleted earlier, now inserted again) continues after its highest
    -- version, chained to its latest row. One probe per row (<insert_probe>).
    WITH {{s}} AS MATERIALIZED (
        SELECT {{n}}.version AS row_version, {{pk_cols_n}}, {{key_n}} AS key, {{v}}.version,
               {{p}}.hash AS prev, {{data_n_v}} AS data, {{changed_at_n}} AS changed_at,
               {{rx_n}} AS rx, {{extra_insert}} AS extra_info
        FROM chrononaut_new AS {{n}}
        {{insert_probe}}
    ), {{w}} AS (
        INSERT INTO {{activity}} (table_name, changed, version, key, data, user_info, extra_info,
                                  operation, prev_hash, hash)
        SELECT {{table_name}}, {{s}}.changed_at, {{s}}.version, {{s}}.key, {{s}}.data,
               {{ctx}}.user_info, {{s}}.extra_info, 'insert', {{chain_insert}}
        FROM {{s}}
        {{heads_write}}
    )
    SELECT count(*) FILTER (WHERE {{s}}.row_version IS DISTINCT FROM {{s}}.version) AS fixes,
           count(*) FILTER (WHERE {{s}}.rx = '{}') AS bare
    INTO {{cnt}} FROM {{s}};
    IF {{strict}} AND NOT {{ctx}}.has_extra AND {{cnt}}.bare > 0 THEN
        PERFORM chrononaut.refuse_strict({{table_name}});
    END IF;

    -- The row's `version` must equal its latest history version: correct it where it differs
    -- (re-inserts, explicit versions). The correction is marked in chrononaut.fixups, which
    -- only capture functions may write, so that the version function lets it through and the
    -- update capture does not record it again; the mark is gone before this returns.
    IF {{cnt}}.fixes > 0 THEN
        INSERT INTO chrononaut.fixups (relid) VALUES (TG_RELID);
        UPDATE {{table}} AS {{t}} SET version = {{s}}.version
        FROM (SELECT {{pk_cols_n}}, {{p}}.version
              FROM chrononaut_new AS {{n}}
              {{fixup_probe}}) AS {{s}}
        WHERE {{pk_join_t_s}} AND {{t}}.version IS DISTINCT FROM {{s}}.version;
        DELETE FROM chrononaut.fixups WHERE relid = TG_RELID;
    END IF;
    RETURN NULL;
END
$chrononaut$;

CREATE OR REPLACE FUNCTION {{fn_update}}() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
{{definer_settings}}
-- Old and new rows are paired by a hash join, whatever the statement's size: PL/pgSQL keeps
-- the plan it made for the first statements of a session, and a plan made for single-row
-- UPDATEs pairs the transition tables by a nested loop, which a later 1000-row UPDATE then
-- runs 1000 x 1000 times (~150 us per row more; BENCHMARKS.md "Capture cost, issue 8 part 2").
-- Safe here: every other join in this function is a per-row LATERAL probe of the history
-- index, which has no alternative to a nested loop (tests/capture_plans.rs checks both).
SET enable_nestloop = off
AS $chrononaut$
DECLARE
    {{ctx}} record;
    {{rec}} jsonb;
    {{ts}} timestamptz := clock_timestamp();
    {{cnt}} record;
    {{fix}} boolean;
BEGIN
    -- The insert capture's version fix-up of this table (nested, marked): already recorded.
    -- Even then only rows whose tracked content is unchanged are skipped.
    -- (Two steps: the depth test alone is a bare expression; the look-up is planned and run
    -- only inside a nested trigger.)
    {{fix}} := false;
    IF pg_trigger_depth() > 1 THEN
        {{fix}} := EXISTS (SELECT 1 FROM chrononaut.fixups AS f WHERE f.relid = TG_RELID);
    END IF;
    {{ctx}} := chrononaut.current_context();
    IF {{ctx}}.suppressed THEN
        RETURN NULL;
    END IF;
    IF {{ctx}}.record_extra IS NOT NULL THEN
        {{rec}} := chrononaut.record_extra_for({{ctx}}.record_extra, TG_RELID);
    END IF;

    -- Rows whose tracked or hidden columns changed (the BEFORE trigger bumped their version).
    -- Old and new rows are paired by primary key, which pairs them wrongly when the statement
    -- changed keys (UPDATE ... SET id = id + 1): a row is then recorded when no old row has
    -- its key, or when its version differs from that old row's (the BEFORE trigger bumped it),
    -- so a moved row is not lost even when its data equals its neighbour's. A client's own
    -- `SET version = n` never gets here with another number: the version function refuses it
    -- as stale (CN005).
    WITH {{s}} AS MATERIALIZED (
        SELECT {{n}}.version, {{key_n}} AS key, {{data_n}} AS data,
               {{changed_at_n}} AS changed_at, {{rx_n}} AS rx, {{extra_update}} AS extra_info,
               {{o_missing}} AS moved
        FROM chrononaut_new AS {{n}}
        LEFT JOIN chrononaut_old AS {{o}} ON {{pk_join_o_n}}
        WHERE {{o_missing}} OR {{changed_o_n}}
           OR (NOT {{fix}} AND {{n}}.version IS DISTINCT FROM {{o}}.version)
    ), {{w}} AS (
        INSERT INTO {{activity}} (table_name, changed, version, key, data, user_info, extra_info,
                                  operation, prev_hash, hash)
        SELECT {{table_name}}, {{s}}.changed_at, {{s}}.version, {{s}}.key, {{s}}.data,
               {{ctx}}.user_info, {{s}}.extra_info, 'update', {{chain_update}}
        FROM {{s}}
        {{chain_probe}}
        {{heads_write}}
    )
    SELECT count(*) FILTER (WHERE {{s}}.moved) AS moved,
           count(*) FILTER (WHERE {{s}}.rx = '{}') AS bare
    INTO {{cnt}} FROM {{s}};
    IF {{strict}} AND NOT {{ctx}}.has_extra AND {{cnt}}.bare > 0 THEN
        PERFORM chrononaut.refuse_strict({{table_name}});
    END IF;
    -- Rows that moved to a key no old row had: the statement changed primary keys. End the
    -- records of the keys that no row has any more with a delete version, as a DELETE would
    -- (otherwise the old key would still look alive, to as_of for one). Derived from the
    -- transition tables themselves, so nothing a client sets can skip it.
    IF {{cnt}}.moved > 0 THEN
        {{delete_rows_from_vanished}}
    END IF;
    RETURN NULL;
END
$chrononaut$;

CREATE OR REPLACE FUNCTION {{fn_delete}}() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
{{definer_settings}}
AS $chrononaut$
DECLARE
    {{ctx}} record;
    {{rec}} jsonb;
    {{ts}} timestamptz := clock_timestamp();
    {{cnt}} record;
BEGIN
    {{ctx}} := chrononaut.current_context();
    IF {{ctx}}.suppressed THEN
        RETURN NULL;
    END IF;
    IF {{ctx}}.record_extra IS NOT NULL THEN
        {{rec}} := chrononaut.record_extra_for({{ctx}}.record_extra, TG_RELID);
    END IF;

    -- The last state, as version + 1 (NULL, never versioned, -> 1): capture_delete_rows.sql.
    IF TG_OP = 'TRUNCATE' THEN
        -- TRUNCATE gives triggers no rows: read them from the table before it is emptied
        -- (this trigger runs BEFORE TRUNCATE), so that a TRUNCATE leaves a trace like a DELETE.
        -- A whole-table read: let it be a sequential scan (the SET clause restores the setting).
        PERFORM pg_catalog.set_config('enable_seqscan', 'on', true);
        {{delete_rows_from_table}}
    ELSE
        {{delete_rows_from_old}}
    END IF;
    RETURN NULL;
END
$chrononaut$;

-- Firing a trigger needs no EXECUTE privilege, but creating one does: without this REVOKE
-- anyone could attach a capture function to a table of their own and write forged history
-- (and, through the re-insert fix-up, update this table) as the owner.
REVOKE EXECUTE ON FUNCTION {{fn_insert}}(), {{fn_update}}(), {{fn_delete}}() FROM PUBLIC;

-- The version bump: a per-table function (its comparison is planned once per session; a
-- trigger WHEN clause would be re-read from the catalog on every statement). Runs as the
-- writer, once per updated row, so it stays minimal: no SET clause, everything qualified.
--
-- Optimistic concurrency: a writer that read version n makes its update conditional on it by
-- setting `version = n` in the same UPDATE. When the row has moved on (NEW.version was set to
-- something other than OLD.version) the update fails with CN005 and nothing changes; when n is
-- the current version the update proceeds and bumps as usual. Exempt (the rare first branch):
-- the insert capture's own fix-up (a row of chrononaut.fixups, in this transaction, nested)
-- and suppressed writes (members of chrononaut_admin only; checked by the capture).
CREATE OR REPLACE FUNCTION {{fn_version}}() RETURNS trigger
LANGUAGE plpgsql
AS $chrononaut$
BEGIN
    IF (NEW.version IS NULL) OPERATOR(pg_catalog.<>) (OLD.version IS NULL)
       OR pg_catalog.int4ne(NEW.version, OLD.version) THEN
        IF pg_catalog.pg_trigger_depth() OPERATOR(pg_catalog.>) 1
           AND EXISTS (SELECT FROM chrononaut.fixups AS f
                       WHERE f.relid OPERATOR(pg_catalog.=) TG_RELID) THEN
            RETURN NEW;
        END IF;
        IF COALESCE(pg_catalog.current_setting('chrononaut.suppress', true), '')
               OPERATOR(pg_catalog.=) 'on' THEN
            RETURN NEW;
        END IF;
        RAISE EXCEPTION 'stale version: % % is at version %, the update expected version %',
            {{table_name}}, {{key_old}},
            COALESCE(OLD.version::pg_catalog.text, 'NULL'), COALESCE(NEW.version::pg_catalog.text, 'NULL')
            USING ERRCODE = 'CN005',
                  HINT = 'someone changed the record since you read it: read it again and retry';
    END IF;
    IF {{when_changed}}
       AND COALESCE(pg_catalog.current_setting('chrononaut.suppress', true), '')
               OPERATOR(pg_catalog.<>) 'on' THEN
        NEW.version := COALESCE(OLD.version, 0) OPERATOR(pg_catalog.+) 1;
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
SET search_path = pg_catalog, pg_temp
AS $chrononaut$
    SELECT {{key_r}}
$chrononaut$;

-- BEFORE UPDATE OR DELETE row trigger while the table has a lock: refuses changes of a locked
-- record (CN006), naming who locked it, when and why. Runs as the owner (SECURITY DEFINER:
-- it must see every lock, also those the writer may not read, see sql/visibility.sql) with a
-- pinned search_path, so that a writer cannot slip a function or operator of its own into the
-- check (the SET clause was there before: SECURITY DEFINER adds no per-row cost of its own).
CREATE OR REPLACE FUNCTION {{fn_lock_check}}() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
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
        {{fn_lock_triggers_signature}}::regprocedure,
        {{fn_key_name}}::regproc::oid::regprocedure, installer);
END
$chrononaut$;

-- Re-tracking drops every trigger first: put the lock triggers back while locks exist.
SELECT {{fn_lock_triggers}}(
           EXISTS (SELECT 1 FROM chrononaut.locks WHERE relid = {{relid}}::oid AND key IS NOT NULL),
           EXISTS (SELECT 1 FROM chrononaut.locks WHERE relid = {{relid}}::oid AND key IS NULL))
WHERE EXISTS (SELECT 1 FROM chrononaut.locks WHERE relid = {{relid}}::oid);
