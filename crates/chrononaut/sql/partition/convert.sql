-- Converts an existing unpartitioned activity table into a partitioned one
-- (`chrononaut init --partition monthly` on a database installed unpartitioned). Run by
-- `Chrononaut::install_with` inside the install's transaction, under the DDL lock, after
-- install.sql and the other install files (so the partition functions exist); the install
-- files then run once more, on the new table: its indexes (built once, after the copy), the
-- append-only trigger, chrononaut's grants and the row-level-security policies
-- (visibility.sql). Nothing of it is visible to anyone before the install commits; a failure
-- anywhere rolls all of it back.
--
-- Placeholders:
--   <activity_schema_literal>  the activity table's schema, as a literal
--   <partition>                'monthly', 'weekly' or 'daily'
--   <partition_ahead>          periods after the current one, as a text literal
--
-- What it does, holding ACCESS EXCLUSIVE on the activity table from its first statement to the
-- install's commit (history reads and writes, i.e. the writes of every tracked table, wait
-- meanwhile; the figures are in the README):
--   1. a partitioned table beside it (LIKE it: the same columns in the same order, types,
--      defaults, NOT NULLs and CHECKs), PRIMARY KEY (id, changed);
--   2. a partition for every period that holds rows, the current period and the periods
--      ahead, and the DEFAULT partition (for rows with an infinite `changed`, and later for
--      whatever no partition covers);
--   3. every row copied as it is (same id and every column), then counted against the old
--      table: a difference aborts the install;
--   4. the grants on the old table given again on the new one (chrononaut's, and any a
--      Python service or an operator added); the owner kept;
--   5. the id sequence kept: detached from the old table, which is dropped (refused by
--      PostgreSQL when a view or another object of yours depends on it: drop or change it
--      first; chrononaut's own functions typed by its rows are dropped with it and made again
--      by the install files), and attached to the new one, renamed chrononaut_activity; its
--      primary key is renamed chrononaut_activity_pkey.
-- The number of rows copied is left in the transaction-local setting
-- chrononaut.converted_rows for the library to report.
DO $chrononaut$
DECLARE
    schema_name text := {{activity_schema_literal}};
    granularity text := {{partition}};
    ahead       integer := {{partition_ahead}}::integer;
    old         regclass := format('%I.%I', {{activity_schema_literal}}, 'chrononaut_activity')::regclass;
    new_name    text := 'chrononaut_activity_partitioned';
    new         regclass;
    owner_role  regrole;
    seq         text;
    cols        text;
    lo          timestamptz;
    copied      bigint;
    counted     bigint;
    g           record;
BEGIN
    EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', old);
    IF (SELECT c.relkind FROM pg_class AS c WHERE c.oid = old) <> 'r' THEN
        RAISE EXCEPTION 'chrononaut: % is not an unpartitioned table', old;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_attribute AS a
               WHERE a.attrelid = old AND a.attname = 'id' AND a.attidentity <> '') THEN
        RAISE EXCEPTION 'chrononaut: %.id is an identity column; only a serial id (a sequence default) can be kept',
            old USING ERRCODE = 'feature_not_supported';
    END IF;
    seq := pg_get_serial_sequence(old::text, 'id');
    IF seq IS NULL THEN
        RAISE EXCEPTION 'chrononaut: %.id takes its values from no sequence it owns', old
            USING ERRCODE = 'feature_not_supported';
    END IF;
    owner_role := (SELECT c.relowner::regrole FROM pg_class AS c WHERE c.oid = old);

    -- 1. the partitioned table
    EXECUTE format('CREATE TABLE %I.%I (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS '
                   'INCLUDING STORAGE INCLUDING COMMENTS) PARTITION BY RANGE (changed)',
                   schema_name, new_name, old);
    new := format('%I.%I', schema_name, new_name)::regclass;
    EXECUTE format('ALTER TABLE %s ADD PRIMARY KEY (id, changed)', new);

    -- 2. its partitions
    FOR lo IN
        EXECUTE format('SELECT DISTINCT chrononaut.partition_start($1, a.changed) FROM %s AS a '
                       'WHERE isfinite(a.changed) ORDER BY 1', old) USING granularity
    LOOP
        PERFORM chrononaut.create_partition(new, schema_name, granularity, lo);
    END LOOP;
    lo := chrononaut.partition_start(granularity, now());
    FOR n IN 0..ahead LOOP
        IF to_regclass(format('%I.%I', schema_name,
                              'chrononaut_activity_p' || to_char(lo AT TIME ZONE 'UTC', 'YYYYMMDD'))) IS NULL THEN
            PERFORM chrononaut.create_partition(new, schema_name, granularity, lo);
        END IF;
        lo := chrononaut.partition_next(granularity, lo);
    END LOOP;
    EXECUTE format('CREATE TABLE %I.%I PARTITION OF %s DEFAULT',
                   schema_name, 'chrononaut_activity_default', new);

    -- 3. every row, as it is
    SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO cols
    FROM pg_attribute AS a WHERE a.attrelid = old AND a.attnum > 0 AND NOT a.attisdropped;
    EXECUTE format('INSERT INTO %s (%s) SELECT %s FROM %s', new, cols, cols, old);
    GET DIAGNOSTICS copied = ROW_COUNT;
    EXECUTE format('SELECT count(*) FROM %s', old) INTO counted;
    IF copied <> counted THEN
        RAISE EXCEPTION 'chrononaut: copied % rows of %, which has %', copied, old, counted;
    END IF;

    -- 4. grants and owner
    FOR g IN SELECT e.grantee, e.privilege_type, e.is_grantable
             FROM pg_class AS c, aclexplode(c.relacl) AS e
             WHERE c.oid = old AND e.grantee <> c.relowner
    LOOP
        EXECUTE format('GRANT %s ON %s TO %s%s', g.privilege_type, new,
                       CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE g.grantee::regrole::text END,
                       CASE WHEN g.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
    END LOOP;
    IF owner_role::oid <> (SELECT c.relowner FROM pg_class AS c WHERE c.oid = new) THEN
        EXECUTE format('ALTER TABLE %s OWNER TO %s', new, owner_role);
        FOR g IN SELECT i.inhrelid::regclass AS part FROM pg_inherits AS i WHERE i.inhparent = new LOOP
            EXECUTE format('ALTER TABLE %s OWNER TO %s', g.part, owner_role);
        END LOOP;
    END IF;

    -- 5. the swap
    EXECUTE format('ALTER SEQUENCE %s OWNED BY NONE', seq);
    -- chrononaut's functions typed by the old table's rows (record_history returns SETOF it)
    -- go with it; the install files that run next make them again, on the new table's type
    FOR g IN SELECT d.objid::regprocedure AS f
             FROM pg_depend AS d JOIN pg_proc AS p ON p.oid = d.objid
             WHERE d.classid = 'pg_proc'::regclass AND d.refclassid = 'pg_type'::regclass
               AND d.refobjid = (SELECT c.reltype FROM pg_class AS c WHERE c.oid = old)
               AND p.pronamespace = 'chrononaut'::regnamespace
    LOOP
        EXECUTE format('DROP FUNCTION %s', g.f);
    END LOOP;
    EXECUTE format('DROP TABLE %s', old);
    EXECUTE format('ALTER TABLE %s RENAME TO %I', new, 'chrononaut_activity');
    EXECUTE format('ALTER TABLE %I.%I RENAME CONSTRAINT %I TO %I', schema_name, 'chrononaut_activity',
                   new_name || '_pkey', 'chrononaut_activity_pkey');
    EXECUTE format('ALTER SEQUENCE %s OWNED BY %I.%I.id', seq, schema_name, 'chrononaut_activity');
    PERFORM set_config('chrononaut.converted_rows', copied::text, true);
END $chrononaut$;
