-- Keeping a partitioned activity table's partitions (see partition/create.sql). Part of every
-- install (run after install.sql, in the same transaction, idempotently); on an unpartitioned
-- activity table the functions do nothing.
--
-- Partitions are named <activity table>_pYYYYMMDD after the UTC date their range starts on
-- (chrononaut_activity_p20261201 for December 2026 when monthly), beside the DEFAULT partition
-- chrononaut_activity_default, in the activity table's schema. Their bounds are UTC instants
-- ('2026-12-01 00:00:00+00'), whatever the session's TimeZone: a row changed at
-- 2026-11-30 23:59:59.999 UTC goes to November's, one at 2026-12-01 00:00 UTC to December's.
--
-- Who may create partitions: PostgreSQL lets only the owner of the partitioned table (the
-- role that installed chrononaut, its members and superusers) create or attach partitions,
-- and these functions add no right to that: they are not SECURITY DEFINER and run as the
-- caller, so a role that may not create partitions gets a clear refusal (42501) here instead
-- of PostgreSQL's "must be owner". Partitions carry no grants: every other role reads and
-- writes history through the parent table only, where the row-level-security policies and the
-- append-only trigger apply (statement triggers and policies of the parent do not apply to a
-- statement that names a partition, which only the owner can do, and the owner can switch
-- them off anyway).

-- The start of the period (UTC) that `t` falls in: the first instant of its UTC month, ISO
-- week (Monday) or day.
CREATE OR REPLACE FUNCTION chrononaut.partition_start(granularity text, t timestamptz)
RETURNS timestamptz
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT date_trunc(CASE granularity WHEN 'monthly' THEN 'month'
                                       WHEN 'weekly' THEN 'week'
                                       WHEN 'daily' THEN 'day' END,
                      t AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
$$;

-- The start of the period after the one that starts at `start` (a partition_start).
CREATE OR REPLACE FUNCTION chrononaut.partition_next(granularity text, start timestamptz)
RETURNS timestamptz
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ((start AT TIME ZONE 'UTC')
            + CASE granularity WHEN 'monthly' THEN interval '1 month'
                               WHEN 'weekly' THEN interval '7 days'
                               WHEN 'daily' THEN interval '1 day' END) AT TIME ZONE 'UTC'
$$;

-- Whether the current role may create and fill partitions of the activity table: it owns the
-- table, is a member of its owner or a superuser (what PostgreSQL asks for creating a
-- partition).
CREATE OR REPLACE FUNCTION chrononaut.may_maintain_partitions() RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT COALESCE((
        SELECT pg_has_role(current_user, c.relowner, 'USAGE')
        FROM chrononaut.meta AS m
        JOIN pg_namespace AS n ON n.nspname = m.value
        JOIN pg_class AS c ON c.relnamespace = n.oid AND c.relname = 'chrononaut_activity'
        WHERE m.key = 'activity_schema'), false)
$$;

-- The bound of the partition for the period that starts at `lo` (a partition_start), with its
-- UTC instants written out ('FOR VALUES FROM (''2026-12-01 00:00:00+00'') TO (...)'), so that
-- neither TimeZone nor DateStyle can move them.
CREATE OR REPLACE FUNCTION chrononaut.partition_bound(granularity text, lo timestamptz)
RETURNS text
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT format('FOR VALUES FROM (%L) TO (%L)',
                  to_char(lo AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || '+00',
                  to_char(chrononaut.partition_next(granularity, lo) AT TIME ZONE 'UTC',
                          'YYYY-MM-DD HH24:MI:SS') || '+00')
$$;

-- Creates the partition of `parent` for the period that starts at `lo` (a partition_start):
-- chrononaut_activity_pYYYYMMDD in schema `schema_name`. Returns its name, schema-qualified.
-- Runs as the caller (only the owner of `parent` may).
CREATE OR REPLACE FUNCTION chrononaut.create_partition(
    parent regclass, schema_name text, granularity text, lo timestamptz)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    part_name text := 'chrononaut_activity_p' || to_char(lo AT TIME ZONE 'UTC', 'YYYYMMDD');
BEGIN
    EXECUTE format('CREATE TABLE %I.%I PARTITION OF %s %s', schema_name, part_name, parent,
                   chrononaut.partition_bound(granularity, lo));
    RETURN format('%I.%I', schema_name, part_name);
END $$;

-- Keeps the partitions of a partitioned activity table (`chrononaut partitions --maintain`,
-- run also by `chrononaut init` and `track`; schedule it, see the README):
--   * creates the DEFAULT partition if it is missing;
--   * creates the partitions of the current period and of the `partition_ahead` periods
--     after it (meta), where missing;
--   * moves the rows that landed in the DEFAULT partition (written with a time no partition
--     covered: converted legacy history, a far-future or far-past `changed`) into partitions
--     of their periods, created for them. Rows move as they are: same id, same `changed`,
--     every column; nothing is lost or reordered. Rows with an infinite `changed` stay in the
--     DEFAULT partition (no period holds them).
-- Returns one row per partition created, with the rows moved into it.
--
-- Locks: the check for work reads the catalog and the DEFAULT partition only. When there is
-- work, it takes ACCESS EXCLUSIVE on the activity table for the rest of the transaction
-- (creating a partition needs it): history reads and writes wait meanwhile, for a few
-- milliseconds, plus the time to move the DEFAULT partition's rows. Two maintenance runs
-- (and chrononaut's other DDL) are serialised by the DDL lock (queries/ddl_lock.sql).
CREATE OR REPLACE FUNCTION chrononaut.maintain_partitions()
RETURNS TABLE (partition_name text, range_start timestamptz, range_end timestamptz, moved_rows bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    granularity text;
    ahead       integer;
    schema_name text;
    parent      oid;
    default_oid oid;
    cols        text;
    wanted      timestamptz[];
    missing     timestamptz[];
    from_default timestamptz[];
    lo          timestamptz;
    hi          timestamptz;
    part_name   text;
    moved       bigint;
BEGIN
    SELECT m.value INTO granularity FROM chrononaut.meta AS m WHERE m.key = 'partition';
    SELECT m.value INTO schema_name FROM chrononaut.meta AS m WHERE m.key = 'activity_schema';
    parent := to_regclass(format('%I.%I', schema_name, 'chrononaut_activity'));
    IF granularity IS NULL OR parent IS NULL
       OR (SELECT c.relkind FROM pg_class AS c WHERE c.oid = parent) <> 'p' THEN
        RETURN;  -- not partitioned by chrononaut
    END IF;
    IF granularity NOT IN ('monthly', 'weekly', 'daily') THEN
        RAISE EXCEPTION 'chrononaut.meta names an unknown partition granularity %', granularity;
    END IF;
    IF NOT chrononaut.may_maintain_partitions() THEN
        RAISE EXCEPTION 'permission denied: only the owner of %.chrononaut_activity (role %) may create or maintain its partitions',
            quote_ident(schema_name), (SELECT c.relowner::regrole FROM pg_class AS c WHERE c.oid = parent)
            USING ERRCODE = '42501',
                  HINT = 'run it as the role that installed chrononaut';
    END IF;
    ahead := COALESCE((SELECT m.value::integer FROM chrononaut.meta AS m WHERE m.key = 'partition_ahead'), 3);
    LOCK TABLE chrononaut.meta IN SHARE ROW EXCLUSIVE MODE;  -- the DDL lock

    FOR pass IN 1..2 LOOP
        -- Pass 1 looks for work without blocking anyone; pass 2, under the lock, again (rows
        -- may have landed in DEFAULT in between) and does it.
        default_oid := (SELECT i.inhrelid FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid
                        WHERE i.inhparent = parent
                          AND pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT');
        -- the current period and `ahead` after it
        wanted := ARRAY[chrononaut.partition_start(granularity, now())];
        FOR n IN 1..ahead LOOP
            wanted := wanted || chrononaut.partition_next(granularity, wanted[n]);
        END LOOP;
        from_default := '{}';
        IF default_oid IS NOT NULL THEN
            EXECUTE format('SELECT ARRAY(SELECT DISTINCT chrononaut.partition_start($1, d.changed)
                                         FROM %s AS d WHERE isfinite(d.changed) ORDER BY 1)',
                           default_oid::regclass)
                INTO from_default USING granularity;
        END IF;
        missing := ARRAY(
            SELECT w FROM unnest(wanted || from_default) AS w
            WHERE NOT EXISTS (
                SELECT 1 FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid
                WHERE i.inhparent = parent
                  AND c.relname = 'chrononaut_activity_p' || to_char(w AT TIME ZONE 'UTC', 'YYYYMMDD'))
            GROUP BY w ORDER BY w);
        EXIT WHEN default_oid IS NOT NULL AND cardinality(missing) = 0;
        IF pass = 1 THEN
            EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', parent::regclass);
            CONTINUE;
        END IF;

        IF default_oid IS NOT NULL AND cardinality(from_default) > 0 THEN
            -- A partition cannot be created while the DEFAULT partition holds rows of its
            -- range: take DEFAULT out, create, move the rows, put it back (which checks that
            -- what it keeps belongs to no partition).
            EXECUTE format('ALTER TABLE %s DETACH PARTITION %s', parent::regclass, default_oid::regclass);
        END IF;
        SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO cols
        FROM pg_attribute AS a WHERE a.attrelid = parent AND a.attnum > 0 AND NOT a.attisdropped;
        FOREACH lo IN ARRAY missing LOOP
            hi := chrononaut.partition_next(granularity, lo);
            part_name := 'chrononaut_activity_p' || to_char(lo AT TIME ZONE 'UTC', 'YYYYMMDD');
            moved := 0;
            IF default_oid IS NOT NULL AND lo = ANY (from_default) THEN
                -- Filled as a table of its own, then attached: the row triggers of the
                -- activity table (the record heads') are cloned onto it by the ATTACH and do
                -- not fire for rows that only move (the heads stay right: same rows), and its
                -- indexes are built once, after the rows.
                EXECUTE format('CREATE TABLE %I.%I (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                               schema_name, part_name, parent::regclass);
                EXECUTE format('WITH m AS (DELETE FROM %s AS d WHERE d.changed >= $1 AND d.changed < $2 RETURNING %s)
                                INSERT INTO %I.%I (%s) SELECT %s FROM m',
                               default_oid::regclass, cols, schema_name, part_name, cols, cols)
                    USING lo, hi;
                GET DIAGNOSTICS moved = ROW_COUNT;
                EXECUTE format('ALTER TABLE %s ATTACH PARTITION %I.%I %s', parent::regclass,
                               schema_name, part_name, chrononaut.partition_bound(granularity, lo));
            ELSE
                PERFORM chrononaut.create_partition(parent, schema_name, granularity, lo);
            END IF;
            partition_name := format('%I.%I', schema_name, part_name);
            range_start := lo;
            range_end := hi;
            moved_rows := moved;
            RETURN NEXT;
        END LOOP;
        IF default_oid IS NULL THEN
            EXECUTE format('CREATE TABLE %I.%I PARTITION OF %s DEFAULT',
                           schema_name, 'chrononaut_activity_default', parent::regclass);
        ELSIF cardinality(from_default) > 0 THEN
            EXECUTE format('ALTER TABLE %s ATTACH PARTITION %s DEFAULT', parent::regclass, default_oid::regclass);
        END IF;
    END LOOP;
END $$;
COMMENT ON FUNCTION chrononaut.maintain_partitions() IS
    'creates the partitions of the activity table ahead and moves rows out of its DEFAULT partition (owner only)';
