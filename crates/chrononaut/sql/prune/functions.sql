-- Retention: pruning history older than a time by dropping whole partitions of a partitioned
-- activity table (`chrononaut prune`, Chrononaut::prune). Part of the install (after
-- heads/install.sql, same transaction, idempotent).
--   <activity_schema>  quoted schema of the activity table
--   <activity_schema_literal>  the same schema name as a SQL string literal
--
-- A prune never deletes rows one by one: it detaches and drops the partitions whose whole
-- range lies before the cut, in one transaction. Before that it keeps what reads after the cut
-- need: for every record with history in those partitions, its latest row there is carried
-- into the kept range as a checkpoint -- the same row (key, version, data, user_info,
-- operation, prev_hash and hash unchanged) with `changed` moved to the cut and
-- extra_info.chrononaut_checkpoint = {"changed": <its own time>, "prune": <prune id>}. So
-- as_of and version_at at or after the cut answer as before, a deleted record stays deleted,
-- versions continue, and verify recomputes the checkpoint's hash from its original time and
-- extra info (sql/integrity/verify.sql): its chain starts there, at a recorded prune, and the
-- rows after it still link to its hash.
-- Every prune is recorded in chrononaut.prunes (who, when, the cut, the partitions, the rows
-- removed and their digest, computed by the library from the removed rows as it read them).
-- Only members of chrononaut_admin may prune (and chrononaut's owner).

-- Per-table retention (`track --keep 400d`): days of history to keep when pruning by policy
-- (`chrononaut prune` without --before: the cut is the oldest that every tracked table allows).
-- NULL: forever.
ALTER TABLE chrononaut.tracked ADD COLUMN IF NOT EXISTS keep_days integer
    CHECK (keep_days > 0);

CREATE TABLE IF NOT EXISTS chrononaut.prunes (
    id          bigserial   PRIMARY KEY,
    pruned_at   timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    pruned_by   text        NOT NULL DEFAULT session_user,
    before      timestamptz NOT NULL,  -- what was asked for
    cut         timestamptz NOT NULL,  -- the upper bound of the newest dropped partition
    partitions  text[]      NOT NULL,  -- the dropped partitions, oldest first
    rows        bigint      NOT NULL,  -- history rows removed
    checkpoints bigint      NOT NULL,  -- rows carried into the kept range
    digest      text        NOT NULL,  -- sha256 of the removed rows (see src/prune.rs)
    archive     text                   -- where they were archived, if they were
);
COMMENT ON TABLE chrononaut.prunes IS 'chrononaut: every prune of the history (chrononaut prune)';
REVOKE ALL ON chrononaut.prunes FROM PUBLIC;
-- Anyone may read it: it is the evidence that history before a cut was removed on purpose.
GRANT SELECT ON chrononaut.prunes TO PUBLIC;

-- The partitions a prune before `before` would drop, oldest first: the non-default partitions
-- of the activity table whose upper bound is at or before `before` (only range bounds in
-- `changed`), with their bounds. Refuses (CN008) when the table is not partitioned, and when
-- its DEFAULT partition holds rows older than `before` (moving them into partitions first
-- keeps them from being kept unnoticed, or skipped by a cut they are older than). Locks the
-- partitions it returns against writes until the transaction ends, so that what the library
-- reads from them is what is dropped.
CREATE OR REPLACE FUNCTION chrononaut.prune_plan(before timestamptz)
RETURNS TABLE (partition text, lower timestamptz, upper timestamptz)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
-- partition bounds are read back as text: in one spelling, whatever the caller's settings
SET DateStyle = 'ISO'
SET TimeZone = 'UTC'
AS $$
DECLARE
    activity regclass := pg_catalog.to_regclass(
        pg_catalog.quote_ident({{activity_schema_literal}}) || '.chrononaut_activity');
    p record;
    cut timestamptz;
    stray bigint;
BEGIN
    IF NOT chrononaut.escape_allowed() THEN
        RAISE EXCEPTION 'permission denied: pruning chrononaut history requires membership in chrononaut_admin'
            USING ERRCODE = '42501';
    END IF;
    IF before IS NULL OR NOT pg_catalog.isfinite(before) THEN
        RAISE EXCEPTION 'prune needs a finite time, got %', before USING ERRCODE = '22023';
    END IF;
    -- a cut in the future would drop the present's partition (a typo: 2062 for 2026)
    IF before > pg_catalog.now() THEN
        RAISE EXCEPTION 'prune needs a time in the past, got % (now is %)', before, pg_catalog.now()
            USING ERRCODE = 'CN008';
    END IF;
    IF (SELECT c.relkind FROM pg_catalog.pg_class AS c WHERE c.oid = activity) IS DISTINCT FROM 'p' THEN
        RAISE EXCEPTION 'the activity table % is not partitioned: prune drops whole partitions', activity
            USING ERRCODE = 'CN008',
                  HINT = 'partition it first (chrononaut init --partition monthly)';
    END IF;
    FOR p IN
        SELECT c.oid::regclass AS part,
               pg_catalog.pg_get_expr(c.relpartbound, c.oid) AS bound
        FROM pg_catalog.pg_inherits AS i
        JOIN pg_catalog.pg_class AS c ON c.oid = i.inhrelid
        WHERE i.inhparent = activity
    LOOP
        IF p.bound = 'DEFAULT' OR p.bound NOT LIKE 'FOR VALUES FROM (%) TO (%)' THEN
            CONTINUE;
        END IF;
        partition := p.part::text;
        -- FOR VALUES FROM ('2026-01-01 00:00:00+00') TO ('2026-02-01 00:00:00+00'); MINVALUE or
        -- MAXVALUE bounds: -infinity / infinity
        lower := CASE WHEN p.bound LIKE 'FOR VALUES FROM (MINVALUE)%' THEN '-infinity'::timestamptz
                      ELSE pg_catalog.substring(p.bound, '^FOR VALUES FROM \(''([^'']*)''\)')::timestamptz END;
        upper := CASE WHEN p.bound LIKE '%TO (MAXVALUE)' THEN 'infinity'::timestamptz
                      ELSE pg_catalog.substring(p.bound, 'TO \(''([^'']*)''\)$')::timestamptz END;
        IF upper <= before THEN
            IF NOT pg_catalog.isfinite(lower) THEN
                RAISE EXCEPTION 'partition % has no lower bound (FROM MINVALUE): prune drops only partitions with finite bounds', p.part
                    USING ERRCODE = 'CN008',
                          HINT = 'detach it by hand, or split it into partitions with finite bounds';
            END IF;
            cut := GREATEST(cut, upper);
            EXECUTE pg_catalog.format('LOCK TABLE %s IN SHARE MODE', p.part);
            RETURN NEXT;
        END IF;
    END LOOP;
    EXECUTE pg_catalog.format(
        'SELECT count(*) FROM %s.chrononaut_activity AS a '
        'WHERE a.changed < $1 AND pg_catalog.isfinite(a.changed) AND a.tableoid = ANY ('
        'SELECT c.oid FROM pg_catalog.pg_inherits AS i JOIN pg_catalog.pg_class AS c ON c.oid = i.inhrelid '
        'WHERE i.inhparent = $2 AND pg_catalog.pg_get_expr(c.relpartbound, c.oid) = ''DEFAULT'')',
        pg_catalog.quote_ident({{activity_schema_literal}}))
    INTO stray USING before, activity;
    IF stray > 0 THEN
        RAISE EXCEPTION '% history rows older than % are in the DEFAULT partition of %', stray, before, activity
            USING ERRCODE = 'CN008',
                  HINT = 'move them into partitions first (chrononaut partitions --maintain), then prune';
    END IF;
END $$;
REVOKE EXECUTE ON FUNCTION chrononaut.prune_plan(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION chrononaut.prune_plan(timestamptz) TO chrononaut_admin;

-- Drops the partitions prune_plan returned (in this transaction), after carrying each record's
-- latest row in them into the kept range as a checkpoint (see the top of this file), and
-- records the prune. Returns the prune's id and the number of checkpoints.
CREATE OR REPLACE FUNCTION chrononaut.prune_apply(
    before timestamptz, parts text[], removed bigint, digest text, archive text,
    OUT prune_id bigint, OUT checkpoints bigint, OUT cut timestamptz)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET DateStyle = 'ISO'
SET TimeZone = 'UTC'
AS $$
DECLARE
    planned record;
    part text;
    n bigint;
    present bigint;
BEGIN
    IF NOT chrononaut.escape_allowed() THEN
        RAISE EXCEPTION 'permission denied: pruning chrononaut history requires membership in chrononaut_admin'
            USING ERRCODE = '42501';
    END IF;
    -- exactly the partitions the plan names now (locked again: a no-op in the same transaction)
    SELECT pg_catalog.array_agg(p.partition ORDER BY p.lower) AS parts, max(p.upper) AS cut
    INTO planned FROM chrononaut.prune_plan(before) AS p;
    IF planned.parts IS DISTINCT FROM parts OR planned.parts IS NULL THEN
        RAISE EXCEPTION 'the partitions to prune changed since they were read: % (expected %)', planned.parts, parts
            USING ERRCODE = 'CN008';
    END IF;
    cut := planned.cut;
    -- the rows being removed (every finite time before the cut: the plan refused such rows
    -- outside the planned partitions) are the ones the caller read and digested
    EXECUTE pg_catalog.format(
        'SELECT count(*) FROM %s.chrononaut_activity AS a '
        'WHERE a.changed < $1 AND pg_catalog.isfinite(a.changed)',
        pg_catalog.quote_ident({{activity_schema_literal}}))
    INTO present USING cut;
    IF present IS DISTINCT FROM removed THEN
        RAISE EXCEPTION 'the partitions to prune hold % rows, the prune read %', present, removed
            USING ERRCODE = 'CN008';
    END IF;
    INSERT INTO chrononaut.prunes (before, cut, partitions, rows, checkpoints, digest, archive)
    VALUES (before, cut, parts, removed, 0, digest, archive)
    RETURNING id INTO prune_id;
    -- every record's latest row before the cut (all of them are in the dropped partitions: the
    -- plan refused rows older than the cut elsewhere), made ready while writers go on ...
    EXECUTE pg_catalog.format(
        'CREATE TEMPORARY TABLE chrononaut_checkpoints ON COMMIT DROP AS '
        'SELECT l.table_name, l.version, l.key, l.data, l.user_info, '
        -- a checkpoint of an earlier prune carried again keeps its own original time
        '       CASE WHEN l.extra_info OPERATOR(pg_catalog.?) ''chrononaut_checkpoint'' '
        '            THEN pg_catalog.jsonb_set(l.extra_info, ''{chrononaut_checkpoint,prune}'', pg_catalog.to_jsonb($2)) '
        '            ELSE l.extra_info OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object(''chrononaut_checkpoint'', '
        '                 pg_catalog.jsonb_build_object(''changed'', l.changed, ''prune'', $2)) END AS extra_info, '
        '       l.operation, l.prev_hash, l.hash '
        'FROM (SELECT DISTINCT ON (a.table_name, a.key) a.* FROM %1$s.chrononaut_activity AS a '
        '      WHERE a.changed < $1 AND pg_catalog.isfinite(a.changed) '
        '      ORDER BY a.table_name, a.key, a.changed DESC, a.version DESC, a.id DESC) AS l',
        pg_catalog.quote_ident({{activity_schema_literal}}))
    USING cut, prune_id;
    -- ... then, with the activity table locked (DETACH needs this lock anyway; taking it
    -- before writing the checkpoints keeps a writer that waits for a checkpoint's head from
    -- holding the table against the detach: a deadlock), written at the cut. History writes
    -- wait from here to the commit.
    EXECUTE pg_catalog.format('LOCK TABLE %s.chrononaut_activity IN ACCESS EXCLUSIVE MODE',
                              pg_catalog.quote_ident({{activity_schema_literal}}));
    EXECUTE pg_catalog.format(
        'INSERT INTO %1$s.chrononaut_activity (table_name, changed, version, key, data, user_info, '
        '    extra_info, operation, prev_hash, hash) '
        'SELECT c.table_name, $1, c.version, c.key, c.data, c.user_info, c.extra_info, c.operation, '
        '       c.prev_hash, c.hash FROM pg_temp.chrononaut_checkpoints AS c',
        pg_catalog.quote_ident({{activity_schema_literal}}))
    USING cut;
    GET DIAGNOSTICS n = ROW_COUNT;
    checkpoints := n;
    UPDATE chrononaut.prunes AS r SET checkpoints = n WHERE r.id = prune_id;
    FOREACH part IN ARRAY parts LOOP
        EXECUTE pg_catalog.format('ALTER TABLE %s.chrononaut_activity DETACH PARTITION %s',
                                  pg_catalog.quote_ident({{activity_schema_literal}}), part);
        EXECUTE pg_catalog.format('DROP TABLE %s', part);
    END LOOP;
END $$;
REVOKE EXECUTE ON FUNCTION chrononaut.prune_apply(timestamptz, text[], bigint, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION chrononaut.prune_apply(timestamptz, text[], bigint, text, text) TO chrononaut_admin;
