-- Record heads: the latest history row of every record, for capture on a partitioned activity
-- table. Part of the install (after integrity/functions.sql, which adds `hash`; same
-- transaction, idempotent).
--   <activity_schema>  quoted schema of the activity table
--
-- Why: each captured write needs its record's latest history row (its hash is the new row's
-- prev_hash; a re-inserted key continues after its highest version). On an unpartitioned
-- activity table that is one backward probe of ix_chrononaut_activity_table_key_changed. On a
-- table partitioned by `changed` the probe names no `changed` bound, so it opens and searches
-- every partition: a single-row INSERT cost 439 µs with 56 monthly partitions against 43 µs
-- unpartitioned (BENCHMARKS.md, "A partitioned activity table"). There the capture reads and
-- moves the record's head in this small unpartitioned table instead, one primary-key probe
-- whatever the number of partitions (sql/heads/*.sql). On an unpartitioned activity table the
-- capture keeps probing the history (writing a head costs ~+5-10 µs per single-row statement
-- there, for nothing), the triggers below do not exist and this table stays empty.
--
-- Who keeps it: the capture functions move the heads of what they write themselves (same
-- statement). Everything else that writes history (a baseline, `convert`, the Python library,
-- rows inserted by hand) is caught by a row trigger on the activity table, which fires only
-- for writes outside any trigger (`pg_trigger_depth() = 0`: the capture writes at depth 1 or
-- more, so it does not pay for it). Deleting history (members of chrononaut_admin, by the
-- escape) recomputes the heads of the deleted rows' records; TRUNCATE empties the table.
-- Detaching or dropping a partition by hand fires no trigger: run
-- `SELECT chrononaut.rebuild_heads()` afterwards (members of chrononaut_admin may).
--
-- Only chrononaut's functions write heads: nobody else may read them either (they hold the keys
-- of every record, deleted ones too), except chrononaut_admin and chrononaut_reader members.

CREATE TABLE IF NOT EXISTS chrononaut.heads (
    table_name  text        NOT NULL,  -- as in the activity table
    key         jsonb       NOT NULL,
    version     integer     NOT NULL,  -- the highest version the record has had
    changed     timestamptz NOT NULL,  -- the latest history row (by changed, version) ...
    row_version integer     NOT NULL,  -- ... its version
    hash        bytea,                 -- ... and its hash (NULL: unchained)
    PRIMARY KEY (table_name, key)
) WITH (fillfactor = 70);  -- room on each page for the next version of a head (HOT updates)
COMMENT ON TABLE chrononaut.heads IS
    'chrononaut: the latest history row of every record (kept when the activity table is partitioned)';
REVOKE ALL ON chrononaut.heads FROM PUBLIC;
GRANT SELECT ON chrononaut.heads TO chrononaut_admin, chrononaut_reader;

-- Recomputes the heads of every record from the history (one sorted pass over it).
CREATE OR REPLACE FUNCTION chrononaut.rebuild_heads() RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n bigint;
BEGIN
    DELETE FROM chrononaut.heads;
    INSERT INTO chrononaut.heads (table_name, key, version, changed, row_version, hash)
    SELECT DISTINCT ON (a.table_name, a.key)
           a.table_name, a.key, max(a.version) OVER (PARTITION BY a.table_name, a.key),
           a.changed, a.version, a.hash
    FROM {{activity_schema}}.chrononaut_activity AS a
    ORDER BY a.table_name, a.key, a.changed DESC, a.version DESC, a.id DESC;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;
REVOKE EXECUTE ON FUNCTION chrononaut.rebuild_heads() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION chrononaut.rebuild_heads() TO chrononaut_admin;

-- Recomputes the heads of one history table_name (one pass over its history). Run by `track`
-- (and the install's regeneration) whenever it installs capture functions that read heads, so
-- that they never start from heads that history written meanwhile left behind.
CREATE OR REPLACE FUNCTION chrononaut.rebuild_table_heads(hist text) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n bigint;
BEGIN
    DELETE FROM chrononaut.heads WHERE table_name = hist;
    INSERT INTO chrononaut.heads (table_name, key, version, changed, row_version, hash)
    SELECT DISTINCT ON (a.key)
           a.table_name, a.key, max(a.version) OVER (PARTITION BY a.key),
           a.changed, a.version, a.hash
    FROM {{activity_schema}}.chrononaut_activity AS a
    WHERE a.table_name = hist
    ORDER BY a.key, a.changed DESC, a.version DESC, a.id DESC;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;
REVOKE EXECUTE ON FUNCTION chrononaut.rebuild_table_heads(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION chrononaut.rebuild_table_heads(text) TO chrononaut_admin;

-- Recomputes one record's head from its history (none left: no head).
CREATE OR REPLACE FUNCTION chrononaut.refresh_head(p_table text, p_key jsonb) RETURNS void
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    DELETE FROM chrononaut.heads WHERE table_name = p_table AND key = p_key;
    INSERT INTO chrononaut.heads (table_name, key, version, changed, row_version, hash)
    SELECT l.table_name, l.key,
           (SELECT max(a.version) FROM {{activity_schema}}.chrononaut_activity AS a
            WHERE a.table_name = p_table AND a.key = p_key AND pg_catalog.jsonb_hash(a.key) = pg_catalog.jsonb_hash(p_key)),
           l.changed, l.version, l.hash
    FROM (SELECT a.table_name, a.key, a.changed, a.version, a.hash
          FROM {{activity_schema}}.chrononaut_activity AS a
          WHERE a.table_name = p_table AND a.key = p_key AND pg_catalog.jsonb_hash(a.key) = pg_catalog.jsonb_hash(p_key)
          ORDER BY a.changed DESC, a.version DESC, a.id DESC LIMIT 1) AS l;
$$;
REVOKE EXECUTE ON FUNCTION chrononaut.refresh_head(text, jsonb) FROM PUBLIC;

-- AFTER INSERT row trigger (outside other triggers only): moves the head of a history row
-- written by anyone but the capture functions. The same rule as sql/heads/write.sql: forward
-- in (changed, version) only, version the highest.
CREATE OR REPLACE FUNCTION chrononaut.heads_note() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    INSERT INTO chrononaut.heads AS h (table_name, key, version, changed, row_version, hash)
    VALUES (NEW.table_name, NEW.key, NEW.version, NEW.changed, NEW.version, NEW.hash)
    ON CONFLICT (table_name, key) DO UPDATE SET
        version = GREATEST(h.version, EXCLUDED.version),
        changed = CASE WHEN (EXCLUDED.changed, EXCLUDED.row_version) >= (h.changed, h.row_version)
                       THEN EXCLUDED.changed ELSE h.changed END,
        row_version = CASE WHEN (EXCLUDED.changed, EXCLUDED.row_version) >= (h.changed, h.row_version)
                           THEN EXCLUDED.row_version ELSE h.row_version END,
        hash = CASE WHEN (EXCLUDED.changed, EXCLUDED.row_version) >= (h.changed, h.row_version)
                    THEN EXCLUDED.hash ELSE h.hash END;
    RETURN NULL;
END $$;

-- AFTER DELETE row trigger: the deleted row's record gets its head back from what is left.
CREATE OR REPLACE FUNCTION chrononaut.heads_forget() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM chrononaut.refresh_head(OLD.table_name, OLD.key);
    RETURN NULL;
END $$;

-- AFTER TRUNCATE statement trigger: no history, no heads.
CREATE OR REPLACE FUNCTION chrononaut.heads_clear() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM chrononaut.heads;
    RETURN NULL;
END $$;
-- Creating a trigger needs EXECUTE (firing one does not): nobody may attach these to a table
-- of their own to write heads as their owner.
REVOKE EXECUTE ON FUNCTION chrononaut.heads_note(), chrononaut.heads_forget(), chrononaut.heads_clear()
    FROM PUBLIC;

-- The triggers exist exactly while the activity table is partitioned. When they are made (a
-- fresh partitioned install, an upgrade, or an activity table converted to partitions) the
-- heads are rebuilt from the history; when the table is not partitioned they are dropped and
-- the heads emptied, so that stale heads are never read.
DO $$
DECLARE
    activity regclass := pg_catalog.to_regclass(
        pg_catalog.quote_ident({{activity_schema_literal}}) || '.chrononaut_activity');
    partitioned boolean;
    present boolean;
BEGIN
    SELECT c.relkind = 'p' INTO partitioned FROM pg_catalog.pg_class AS c WHERE c.oid = activity;
    SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger AS t
                   WHERE t.tgrelid = activity AND t.tgname = 'chrononaut_heads_insert')
    INTO present;
    IF partitioned AND NOT present THEN
        CREATE TRIGGER chrononaut_heads_insert
            AFTER INSERT ON {{activity_schema}}.chrononaut_activity
            FOR EACH ROW WHEN (pg_catalog.pg_trigger_depth() OPERATOR(pg_catalog.=) 0)
            EXECUTE FUNCTION chrononaut.heads_note();
        CREATE TRIGGER chrononaut_heads_delete
            AFTER DELETE ON {{activity_schema}}.chrononaut_activity
            FOR EACH ROW EXECUTE FUNCTION chrononaut.heads_forget();
        CREATE TRIGGER chrononaut_heads_truncate
            AFTER TRUNCATE ON {{activity_schema}}.chrononaut_activity
            FOR EACH STATEMENT EXECUTE FUNCTION chrononaut.heads_clear();
        PERFORM chrononaut.rebuild_heads();
    ELSIF NOT partitioned AND present THEN
        DROP TRIGGER chrononaut_heads_insert ON {{activity_schema}}.chrononaut_activity;
        DROP TRIGGER IF EXISTS chrononaut_heads_delete ON {{activity_schema}}.chrononaut_activity;
        DROP TRIGGER IF EXISTS chrononaut_heads_truncate ON {{activity_schema}}.chrononaut_activity;
        DELETE FROM chrononaut.heads;
    END IF;
END $$;
