-- Record locks and frozen tables. Part of the install (run after install.sql and
-- integrity/functions.sql, in the same transaction, idempotently).
--   <activity_schema>  quoted schema of the activity table
--
-- A locked record refuses UPDATE and DELETE from every client; a frozen table (a lock with
-- no key) refuses INSERT, UPDATE, DELETE and TRUNCATE. Locking and unlocking are recorded in
-- chrononaut.lock_events (not in the activity table, where a Python reader would take them
-- for versions), with the record's version at the time (the record's version does not
-- change), who (user_info.user_id from the context, user_info.db_user the login role), when
-- (changed) and why (extra_info.reason). A frozen table's events have key {} and no version.
--
-- From any client:
--     SELECT * FROM chrononaut.lock('accounts', '{"id": 5}', 'audit 2024');
--     SELECT * FROM chrononaut.unlock('accounts', '{"id": 5}');
--     SELECT * FROM chrononaut.lock('accounts', NULL, 'year-end close');   -- freeze
--     SELECT * FROM chrononaut.locks;
--
-- The check triggers exist only while a table has at least one lock: lock() creates them
-- (through the table's own capture_<oid>_lock_triggers function, which runs as the table's
-- owner), the last unlock() drops them. Tables without locks pay nothing; tables with locked
-- records pay a row check on UPDATE and DELETE only (and a check on TRUNCATE).
--
-- Who may: lock, anyone with SELECT and UPDATE privileges on the table (checked for the login
-- role, session_user); unlock, the login role that locked it or a member of chrononaut_admin,
-- with SELECT on the table. Who sees the locks and lock events: see visibility.sql.
-- Nobody writes chrononaut.locks directly: lock() and unlock() run as their owner (SECURITY
-- DEFINER, search_path pinned).
--
-- Errors: CN007 (lock refused: not tracked, no such record, already locked, not locked, no
-- reason), CN004 (a reason over 1024 bytes), 42501 (no privilege / not the locker). Writes to
-- a locked record: CN006.
--
-- Lock and unlock of one table are serialised by a row lock on its chrononaut.tracked row
-- (see lock_tracked), which no role without UPDATE on chrononaut.tracked can take or hold.
--
-- Known gap: a REPEATABLE READ or SERIALIZABLE transaction whose snapshot was taken before a
-- lock committed does not see the lock (locking does not modify the row), so it can still
-- change the record once.

CREATE TABLE IF NOT EXISTS chrononaut.locks (
    relid      regclass    NOT NULL,
    key        jsonb,                   -- the record's history key; NULL: the whole table
    table_name text        NOT NULL,    -- the history table_name
    locked_by  text        NOT NULL,    -- login role (session_user)
    user_id    text,                    -- chrononaut.user_id of the locking transaction
    reason     text        NOT NULL,
    locked_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
);
-- One lock per record, one freeze per table; the first index serves the row check.
CREATE UNIQUE INDEX IF NOT EXISTS locks_record ON chrononaut.locks (relid, key) WHERE key IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS locks_table ON chrononaut.locks (relid) WHERE key IS NULL;
REVOKE ALL ON chrononaut.locks FROM PUBLIC;
GRANT SELECT ON chrononaut.locks TO PUBLIC;

-- Lock and unlock events, hash-chained like the history: per record (table_name, key; {} for
-- the whole table), ordered by (changed, id), each event's prev_hash is the hash of the
-- record's previous event recorded here (NULL for its first), and hash =
-- chrononaut.chain_hash(prev_hash, table_name, key, version, changed, data, user_info,
-- extra_info, operation). `verify` recomputes these chains too.
--
-- Rows migrated from the activity table (written there by releases before schema version 2,
-- see the migration below) keep their columns, hashes and, in activity_id, their id there:
-- they were links of the record's version chain (a version after them has prev_hash = the
-- last one's hash), and `verify` walks them in that chain, in their old place, so the old
-- history verifies as it did; `digest` counts them under their old id, so a digest taken
-- before the migration still matches. Only those rows hold a snapshot in `data` (the
-- record's latest version when it was locked), which their hash covers.
CREATE TABLE IF NOT EXISTS chrononaut.lock_events (
    id          bigserial   PRIMARY KEY,
    table_name  text        NOT NULL,   -- the history table_name
    key         jsonb       NOT NULL,   -- the record's history key; {}: the whole table
    version     integer,                -- the record's version at the event; NULL: none
    changed     timestamptz NOT NULL,
    operation   text        NOT NULL,   -- 'lock' or 'unlock'
    user_info   jsonb       NOT NULL,   -- user_id, remote_addr (context), db_user (login role)
    extra_info  jsonb       NOT NULL,   -- the context's extra info and the lock's reason
    data        jsonb       NOT NULL DEFAULT '{}',
    prev_hash   bytea,
    hash        bytea,
    activity_id bigint                  -- migrated rows: their id in the activity table
);
-- A record's events in order: the chain's probe, `log`, `verify`.
CREATE INDEX IF NOT EXISTS lock_events_record ON chrononaut.lock_events (table_name, key, changed);
REVOKE ALL ON chrononaut.lock_events FROM PUBLIC;
GRANT SELECT ON chrononaut.lock_events TO PUBLIC;
-- Append-only like the history (same guard, same escape for members of chrononaut_admin).
DROP TRIGGER IF EXISTS chrononaut_append_only ON chrononaut.lock_events;
CREATE TRIGGER chrononaut_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON chrononaut.lock_events
    FOR EACH STATEMENT EXECUTE FUNCTION chrononaut.guard_activity();
GRANT SELECT, DELETE, TRUNCATE ON chrononaut.lock_events TO chrononaut_admin;

-- Schema version 2 moved lock events out of the activity table: rows with operation 'lock' /
-- 'unlock' written there before go to chrononaut.lock_events, once (the activity table has no
-- index on operation; meta 'lock_events_moved' records that it is done). Nothing is rewritten:
-- the rows keep their hashes, and verify and digest read them where they are now (see above).
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM chrononaut.meta WHERE key = 'lock_events_moved') THEN
        RETURN;
    END IF;
    IF EXISTS (SELECT 1 FROM {{activity_schema}}.chrononaut_activity AS a
               WHERE a.operation IN ('lock', 'unlock')) THEN
        INSERT INTO chrononaut.lock_events
            (table_name, key, version, changed, operation, user_info, extra_info, data,
             prev_hash, hash, activity_id)
        SELECT a.table_name, a.key, a.version, a.changed, a.operation, a.user_info, a.extra_info,
               a.data, a.prev_hash, a.hash, a.id
        FROM {{activity_schema}}.chrononaut_activity AS a
        WHERE a.operation IN ('lock', 'unlock')
        ORDER BY a.id;
        -- the append-only guard refuses every DELETE; this one moves rows, as the owner
        ALTER TABLE {{activity_schema}}.chrononaut_activity DISABLE TRIGGER chrononaut_append_only;
        DELETE FROM {{activity_schema}}.chrononaut_activity AS a WHERE a.operation IN ('lock', 'unlock');
        ALTER TABLE {{activity_schema}}.chrononaut_activity ENABLE TRIGGER chrononaut_append_only;
    END IF;
    INSERT INTO chrononaut.meta (key, value) VALUES ('lock_events_moved', 'true');
END $$;

-- The statement-level check while a table has locks: a frozen table refuses every write; a
-- table with locked records refuses TRUNCATE (which row triggers do not see).
-- Runs as the owner (SECURITY DEFINER): it must see every lock, also those the writer may not
-- read (row-level security on chrononaut.locks, see visibility.sql).
CREATE OR REPLACE FUNCTION chrononaut.check_table_lock() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    l record;
BEGIN
    SELECT * INTO l FROM chrononaut.locks AS k
    WHERE k.relid = TG_RELID AND (k.key IS NULL OR TG_OP = 'TRUNCATE')
    ORDER BY k.key NULLS FIRST LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION '% of % refused: % is locked by % since % UTC: %',
            TG_OP, l.table_name,
            CASE WHEN l.key IS NULL THEN 'the table' ELSE 'record ' || l.key::text END,
            l.locked_by || CASE WHEN l.user_id IS NULL THEN '' ELSE ' (user ' || l.user_id || ')' END,
            to_char(l.locked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), l.reason
            USING ERRCODE = 'CN006',
                  HINT = 'the user who locked it or a member of chrononaut_admin can unlock it (chrononaut unlock)';
    END IF;
    RETURN NULL;
END $$;

-- Finds the record of `target` with key `record_key` (a JSON object of its primary-key
-- columns, values in any form jsonb_populate_record accepts), locks its row FOR UPDATE and
-- returns its history key and version. Raises CN007 when there is no such record.
CREATE OR REPLACE FUNCTION chrononaut.lock_target(
    target regclass, record_key jsonb, fn_suffix text,
    OUT history_key jsonb, OUT row_version integer)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cols text[];
BEGIN
    SELECT array_agg(quote_ident(a.attname) ORDER BY k.ord) INTO cols
    FROM pg_index i
    CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
    WHERE i.indrelid = target AND i.indisprimary AND a.attname <> 'version';
    IF jsonb_typeof(record_key) IS DISTINCT FROM 'object'
       OR EXISTS (SELECT 1 FROM jsonb_object_keys(record_key) AS g(name)
                  WHERE quote_ident(g.name) <> ALL (cols))
       OR EXISTS (SELECT 1 FROM unnest(cols) AS c(name)
                  WHERE NOT EXISTS (SELECT 1 FROM jsonb_object_keys(record_key) AS g(name)
                                    WHERE quote_ident(g.name) = c.name)) THEN
        RAISE EXCEPTION 'lock refused: % is not a key of % (its key columns are %)',
            record_key, target, array_to_string(cols, ', ')
            USING ERRCODE = 'CN007';
    END IF;
    EXECUTE format(
        'SELECT chrononaut.%I(t.*), t.version FROM %s AS t WHERE (%s) = (SELECT %s FROM jsonb_populate_record(NULL::%s, $1) AS r) FOR UPDATE OF t',
        'capture_' || fn_suffix || '_key', target,
        (SELECT string_agg('t.' || c, ', ') FROM unnest(cols) AS c),
        (SELECT string_agg('r.' || c, ', ') FROM unnest(cols) AS c),
        target)
    INTO history_key, row_version
    USING record_key;
    IF history_key IS NULL THEN
        RAISE EXCEPTION 'lock refused: % has no record %', target, record_key
            USING ERRCODE = 'CN007';
    END IF;
END $$;
REVOKE EXECUTE ON FUNCTION chrononaut.lock_target(regclass, jsonb, text) FROM PUBLIC;

-- Records a 'lock' / 'unlock' event of a record (or of the whole table: key NULL), chained to
-- the record's previous event. Runs inside lock() / unlock(), which serialise the events of a
-- table (see lock_tracked), so the chain cannot fork.
CREATE OR REPLACE FUNCTION chrononaut.record_lock_event(
    hist text, history_key jsonb, row_version integer, op text, reason text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ctx record;
    k jsonb := COALESCE(history_key, '{}'::jsonb);
    prev bytea;
    ts timestamptz := clock_timestamp();
    info jsonb;
    extra jsonb;
BEGIN
    ctx := chrononaut.current_context();
    info := COALESCE(ctx.user_info,
                     jsonb_build_object('user_id', NULLIF(current_setting('chrononaut.user_id', true), ''),
                                        'remote_addr', NULLIF(current_setting('chrononaut.remote_addr', true), '')))
            || jsonb_build_object('db_user', session_user::text);
    extra := COALESCE(ctx.extra_info, '{}'::jsonb) || jsonb_build_object('reason', reason);
    SELECT e.hash INTO prev
    FROM chrononaut.lock_events AS e
    WHERE e.table_name = hist AND e.key = k AND e.activity_id IS NULL
    ORDER BY e.changed DESC, e.id DESC LIMIT 1;
    INSERT INTO chrononaut.lock_events
        (table_name, key, version, changed, operation, user_info, extra_info, prev_hash, hash)
    VALUES (hist, k, row_version, ts, op, info, extra, prev,
            chrononaut.chain_hash(prev, hist, k, row_version, ts, '{}'::jsonb, info, extra, op));
END $$;
REVOKE EXECUTE ON FUNCTION chrononaut.record_lock_event(text, jsonb, integer, text, text) FROM PUBLIC;

-- Brings the lock triggers of `target` in line with its locks (see capture.sql).
CREATE OR REPLACE FUNCTION chrononaut.sync_lock_triggers(target regclass, fn_suffix text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    EXECUTE format('SELECT chrononaut.%I($1, $2)', 'capture_' || fn_suffix || '_lock_triggers')
    USING EXISTS (SELECT 1 FROM chrononaut.locks AS k WHERE k.relid = target AND k.key IS NOT NULL),
          EXISTS (SELECT 1 FROM chrononaut.locks AS k WHERE k.relid = target AND k.key IS NULL);
END $$;
REVOKE EXECUTE ON FUNCTION chrononaut.sync_lock_triggers(regclass, text) FROM PUBLIC;

-- The tracked-table row of `target` with its history table_name; CN007 when it is not
-- tracked, or was tracked by a chrononaut without record locks (no capture_<oid>_key).
CREATE OR REPLACE FUNCTION chrononaut.lock_tracked(target regclass, OUT fn_suffix text, OUT hist text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    SELECT t.fn_suffix,
           CASE WHEN n.nspname = 'public' THEN c.relname::text
                ELSE format('%I.%I', n.nspname, c.relname) END
    INTO fn_suffix, hist
    FROM chrononaut.tracked t
    JOIN pg_class c ON c.oid = t.relid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE t.relid = target
    -- One lock/unlock of this table at a time (the triggers are created and dropped there):
    -- the tracked row is locked, which only chrononaut's owner can do (FOR UPDATE needs the
    -- UPDATE privilege on chrononaut.tracked), so no other role can hold this against us
    -- (an advisory lock could be taken, and held, by anyone).
    FOR UPDATE OF t;
    IF fn_suffix IS NULL THEN
        RAISE EXCEPTION 'lock refused: table % is not tracked', target USING ERRCODE = 'CN007';
    END IF;
    IF to_regproc(format('chrononaut.%I', 'capture_' || fn_suffix || '_key')) IS NULL THEN
        RAISE EXCEPTION 'lock refused: % was tracked by an older chrononaut; track it again (chrononaut track %)',
            target, target USING ERRCODE = 'CN007';
    END IF;
END $$;
REVOKE EXECUTE ON FUNCTION chrononaut.lock_tracked(regclass) FROM PUBLIC;

-- Locks a record of `target` (record_key NULL: freezes the whole table), with a reason.
-- Returns the lock.
CREATE OR REPLACE FUNCTION chrononaut.lock(target regclass, record_key jsonb, reason text)
RETURNS SETOF chrononaut.locks
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    tracked record;
    hist text;
    found_key jsonb;
    found_version integer;
    existing record;
    l chrononaut.locks;
BEGIN
    IF reason IS NULL OR btrim(reason) = '' THEN
        RAISE EXCEPTION 'lock refused: a lock needs a reason' USING ERRCODE = 'CN007';
    END IF;
    -- Bounded (LIMIT_LOCK_REASON in src/locking.rs): the reason is stored with the lock and
    -- repeated in every refusal of a write to the record. CN004, as for the other
    -- client-supplied texts (the context's limits); the message does not repeat it.
    IF octet_length(reason) > 1024 THEN
        RAISE EXCEPTION 'malformed chrononaut lock: the lock reason is % bytes long, more than the 1024 bytes chrononaut records',
            octet_length(reason)
            USING ERRCODE = 'CN004';
    END IF;
    SELECT * INTO tracked FROM chrononaut.lock_tracked(target);
    hist := tracked.hist;
    -- SELECT too: the answers (no such record, already locked by whom and why, the lock)
    -- tell about records, which only those who may read the table may learn.
    IF NOT has_table_privilege(session_user, target, 'SELECT')
       OR NOT has_table_privilege(session_user, target, 'UPDATE') THEN
        RAISE EXCEPTION 'permission denied: locking records of % needs SELECT and UPDATE privileges on it', target
            USING ERRCODE = '42501';
    END IF;
    IF record_key IS NOT NULL THEN
        SELECT * INTO found_key, found_version FROM chrononaut.lock_target(target, record_key, tracked.fn_suffix);
    END IF;
    SELECT * INTO existing FROM chrononaut.locks AS k
    WHERE k.relid = target AND k.key IS NOT DISTINCT FROM found_key;
    IF FOUND THEN
        RAISE EXCEPTION 'lock refused: % of % is already locked by % since % UTC: %',
            CASE WHEN found_key IS NULL THEN 'the table' ELSE 'record ' || found_key::text END,
            target, existing.locked_by,
            to_char(existing.locked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), existing.reason
            USING ERRCODE = 'CN007';
    END IF;
    INSERT INTO chrononaut.locks (relid, key, table_name, locked_by, user_id, reason, locked_at)
    VALUES (target, found_key, hist, session_user::text,
            NULLIF(current_setting('chrononaut.user_id', true), ''), reason, clock_timestamp())
    RETURNING * INTO l;
    PERFORM chrononaut.record_lock_event(hist, found_key, found_version, 'lock', reason);
    PERFORM chrononaut.sync_lock_triggers(target, tracked.fn_suffix);
    RETURN NEXT l;
END $$;
COMMENT ON FUNCTION chrononaut.lock(regclass, jsonb, text) IS
    'locks a record (key NULL: the whole table) against UPDATE and DELETE, with a reason; recorded in chrononaut.lock_events';

-- Unlocks a record of `target` (record_key NULL: unfreezes the table). Returns the lock that
-- was removed.
CREATE OR REPLACE FUNCTION chrononaut.unlock(target regclass, record_key jsonb)
RETURNS SETOF chrononaut.locks
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    tracked record;
    found_key jsonb;
    found_version integer;
    l chrononaut.locks;
BEGIN
    SELECT * INTO tracked FROM chrononaut.lock_tracked(target);
    -- Before anything about the record is looked up: only those who may read the table learn
    -- whether a record exists, is locked, by whom and why.
    IF NOT has_table_privilege(session_user, target, 'SELECT') THEN
        RAISE EXCEPTION 'permission denied: unlocking records of % needs SELECT privilege on it', target
            USING ERRCODE = '42501';
    END IF;
    IF record_key IS NOT NULL THEN
        SELECT * INTO found_key, found_version FROM chrononaut.lock_target(target, record_key, tracked.fn_suffix);
    END IF;
    SELECT * INTO l FROM chrononaut.locks AS k
    WHERE k.relid = target AND k.key IS NOT DISTINCT FROM found_key
    FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unlock refused: % of % is not locked',
            CASE WHEN found_key IS NULL THEN 'the table' ELSE 'record ' || found_key::text END, target
            USING ERRCODE = 'CN007';
    END IF;
    IF l.locked_by IS DISTINCT FROM session_user::text AND NOT chrononaut.escape_allowed() THEN
        RAISE EXCEPTION 'permission denied: % of % was locked by %; only that user or a member of chrononaut_admin may unlock it',
            CASE WHEN found_key IS NULL THEN 'the table' ELSE 'record ' || found_key::text END,
            target, l.locked_by
            USING ERRCODE = '42501';
    END IF;
    DELETE FROM chrononaut.locks AS k WHERE k.relid = target AND k.key IS NOT DISTINCT FROM found_key;
    PERFORM chrononaut.record_lock_event(l.table_name, found_key, found_version, 'unlock', l.reason);
    PERFORM chrononaut.sync_lock_triggers(target, tracked.fn_suffix);
    RETURN NEXT l;
END $$;
COMMENT ON FUNCTION chrononaut.unlock(regclass, jsonb) IS
    'removes a lock (key NULL: unfreezes the table); only the locker or a member of chrononaut_admin';
