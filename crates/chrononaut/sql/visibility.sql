-- Who reads which history. Part of the install (run last, after locking/functions.sql, in the
-- same transaction, idempotently).
--   <activity_schema>  quoted schema of the activity table
--   <activity_schema_literal>  the same schema name as a SQL string literal (never splice the
--                      quoted name into a literal: a schema name may hold a quote)
--
-- A role reads the history of exactly the tables it may SELECT: row-level security on the
-- activity table, chrononaut.lock_events and chrononaut.locks lets a row through when the
-- current role has the SELECT privilege on the tracked table the row belongs to (the mapping
-- is chrononaut.tracked: relid -> history_name). So the same holds for every reader: a
-- `SELECT ... FROM chrononaut_activity` (the Python library's reads included: they just see
-- fewer rows), chrononaut.as_of (which runs with the caller's rights), the library and the
-- CLI. A GRANT or REVOKE takes effect at the caller's next statement.
--
-- Rows of no tracked table (a table untracked or dropped since, history written by the
-- Python library for a table chrononaut does not track) are readable by nobody below but
-- the members of chrononaut_admin and chrononaut_reader (who read all history, and
-- nothing else: no escape). PostgreSQL lets the activity table's owner (the role that
-- installed chrononaut, or the Python library's role that created the table), superusers and
-- roles with BYPASSRLS read everything, whatever these policies say.
--
-- The SELECT privilege on the whole table is needed: a role with column privileges only
-- reads none of its history (history rows hold every recorded column).
--
-- Writes are unaffected: the capture functions and chrononaut.lock/unlock run as the owner
-- (SECURITY DEFINER), to whom row-level security does not apply (it is not FORCEd), and so
-- do the lock checks (capture.sql, check_table_lock), which must see every lock. The escape
-- that deletes history (members of chrononaut_admin) gets a DELETE policy; TRUNCATE ignores
-- row-level security.
--
-- Cost: the policy is `table_name = ANY ((SELECT chrononaut.readable_history()))`, an
-- InitPlan that runs once per statement (not per row) and an index condition on table_name.
-- But PostgreSQL evaluates a reader's own conditions before the policy's only when they are
-- LEAKPROOF, and jsonb's `=` is not: for a reader under the policy, `key = $2` is no longer
-- an index condition, and reading one record scans the history of its whole table (figures
-- in BENCHMARKS.md); chrononaut.as_of's skip scan of keys would even read it once per key.
-- Owners, superusers and members of chrononaut_admin or chrononaut_reader are not affected
-- (their policy is `true`, which PostgreSQL folds away): a service that reads the history of
-- every table with its own queries (the Python library) should be a chrononaut_reader. chrononaut's own per-record reads and as_of therefore read
-- through SECURITY DEFINER functions (sql/history/functions.sql) that check the reader once
-- (chrononaut.reader_may_read, below) and then read as the owner, by index.

-- The history names the current role may read: those of the tracked tables it may SELECT.
-- STABLE, called once per statement through an InitPlan. history_name is NULL for a table
-- tracked by a release before it was recorded (until its functions are regenerated): the
-- name is then the one the capture functions write, from the catalog.
CREATE OR REPLACE FUNCTION chrononaut.readable_history() RETURNS text[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT COALESCE(array_agg(COALESCE(t.history_name,
                                       CASE WHEN n.nspname = 'public' THEN c.relname::text
                                            ELSE format('%I.%I', n.nspname, c.relname) END)),
                    '{}')
    FROM chrononaut.tracked AS t
    JOIN pg_class AS c ON c.oid = t.relid
    JOIN pg_namespace AS n ON n.oid = c.relnamespace
    WHERE has_table_privilege(t.relid, 'SELECT')
$$;
COMMENT ON FUNCTION chrononaut.readable_history() IS
    'history table_names the current role may read: those of the tracked tables it may SELECT';

-- Whether the role reading may read the history named `hist`, by the same rules as the
-- policies below: SELECT on the activity table, and SELECT on the tracked table, or membership
-- of chrononaut_admin or chrononaut_reader, or the rights that make PostgreSQL skip the
-- policies (superuser,
-- BYPASSRLS, the activity table's owner).
--
-- For the SECURITY DEFINER read functions of sql/history/functions.sql, which read as the
-- owner (so that PostgreSQL plans a reader's key condition as an index condition, see "Cost"
-- above) and must check the reader themselves. Inside them current_user is their owner, so
-- the reader is the role of the session's SET ROLE, else the session's login role: a role
-- can only be switched to by someone who may use its rights (SET ROLE checks membership;
-- SET SESSION AUTHORIZATION needs a superuser). Called from inside another SECURITY DEFINER
-- function, the reader is still the session's role, not that function's owner.
CREATE OR REPLACE FUNCTION chrononaut.reader_may_read(hist text) RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT COALESCE((
        SELECT has_table_privilege(r.oid, pg_catalog.to_regclass(
                   pg_catalog.quote_ident({{activity_schema_literal}}) || '.chrononaut_activity'), 'SELECT')
               AND (r.rolsuper OR r.rolbypassrls
                    OR pg_has_role(r.oid, 'chrononaut_admin', 'MEMBER')
                    OR pg_has_role(r.oid, 'chrononaut_reader', 'MEMBER')
                    OR pg_has_role(r.oid, (SELECT c.relowner FROM pg_class AS c
                                           WHERE c.oid = pg_catalog.to_regclass(
                                               pg_catalog.quote_ident({{activity_schema_literal}})
                                               || '.chrononaut_activity')),
                                   'USAGE')
                    OR EXISTS (
                        SELECT 1
                        FROM chrononaut.tracked AS t
                        JOIN pg_class AS c ON c.oid = t.relid
                        JOIN pg_namespace AS n ON n.oid = c.relnamespace
                        WHERE COALESCE(t.history_name,
                                       CASE WHEN n.nspname = 'public' THEN c.relname::text
                                            ELSE format('%I.%I', n.nspname, c.relname) END) = hist
                          AND has_table_privilege(r.oid, t.relid, 'SELECT')))
        FROM pg_roles AS r
        WHERE r.rolname = CASE WHEN current_setting('role') = 'none' THEN session_user::text
                               ELSE current_setting('role') END), false)
$$;
COMMENT ON FUNCTION chrononaut.reader_may_read(text) IS
    'whether the session''s role may read the history named hist (the rules of the row-level security policies)';

ALTER TABLE {{activity_schema}}.chrononaut_activity ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS chrononaut_read ON {{activity_schema}}.chrononaut_activity;
CREATE POLICY chrononaut_read ON {{activity_schema}}.chrononaut_activity FOR SELECT
    USING (table_name = ANY ((SELECT chrononaut.readable_history())::text[]));
DROP POLICY IF EXISTS chrononaut_admin_read ON {{activity_schema}}.chrononaut_activity;
CREATE POLICY chrononaut_admin_read ON {{activity_schema}}.chrononaut_activity FOR SELECT
    TO chrononaut_admin USING (true);
DROP POLICY IF EXISTS chrononaut_reader_read ON {{activity_schema}}.chrononaut_activity;
CREATE POLICY chrononaut_reader_read ON {{activity_schema}}.chrononaut_activity FOR SELECT
    TO chrononaut_reader USING (true);
DROP POLICY IF EXISTS chrononaut_admin_delete ON {{activity_schema}}.chrononaut_activity;
CREATE POLICY chrononaut_admin_delete ON {{activity_schema}}.chrononaut_activity FOR DELETE
    TO chrononaut_admin USING (true);
-- A role that was granted INSERT on the activity table (a Python writer that does not own it)
-- writes as before; its INSERT ... RETURNING must be of history it may read.
DROP POLICY IF EXISTS chrononaut_insert ON {{activity_schema}}.chrononaut_activity;
CREATE POLICY chrononaut_insert ON {{activity_schema}}.chrononaut_activity FOR INSERT
    WITH CHECK (true);

ALTER TABLE chrononaut.lock_events ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS chrononaut_read ON chrononaut.lock_events;
CREATE POLICY chrononaut_read ON chrononaut.lock_events FOR SELECT
    USING (table_name = ANY ((SELECT chrononaut.readable_history())::text[]));
DROP POLICY IF EXISTS chrononaut_admin_read ON chrononaut.lock_events;
CREATE POLICY chrononaut_admin_read ON chrononaut.lock_events FOR SELECT
    TO chrononaut_admin USING (true);
DROP POLICY IF EXISTS chrononaut_reader_read ON chrononaut.lock_events;
CREATE POLICY chrononaut_reader_read ON chrononaut.lock_events FOR SELECT
    TO chrononaut_reader USING (true);
DROP POLICY IF EXISTS chrononaut_admin_delete ON chrononaut.lock_events;
CREATE POLICY chrononaut_admin_delete ON chrononaut.lock_events FOR DELETE
    TO chrononaut_admin USING (true);

-- The locks in force name a record's key, who locked it and why: visible with SELECT on the
-- table (few rows; the check is per row). The lock checks that refuse writes run as the owner.
ALTER TABLE chrononaut.locks ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS chrononaut_read ON chrononaut.locks;
CREATE POLICY chrononaut_read ON chrononaut.locks FOR SELECT
    USING (has_table_privilege(relid, 'SELECT'));
DROP POLICY IF EXISTS chrononaut_admin_read ON chrononaut.locks;
CREATE POLICY chrononaut_admin_read ON chrononaut.locks FOR SELECT
    TO chrononaut_admin USING (true);
DROP POLICY IF EXISTS chrononaut_reader_read ON chrononaut.locks;
CREATE POLICY chrononaut_reader_read ON chrononaut.locks FOR SELECT
    TO chrononaut_reader USING (true);
