-- Reference design "row-level full semantics": the shape most audit libraries ship, with
-- chrononaut's semantics except the hash chain. Two row triggers per table:
--   * BEFORE UPDATE bumps `version` when a tracked column changed (the tracked columns are
--     compared one by one, as a generated per-table function would; `seen` is untracked, so a
--     change of `seen` alone keeps the version and records nothing);
--   * AFTER INSERT/UPDATE/DELETE writes one history row: the tracked columns minus the hidden
--     `secret` (its change is noted in extra_info.hidden_cols_changed, its value never stored),
--     the key as JSON, the version (delete: the last state at version + 1), the operation, and
--     the context read from the chrononaut.* settings (user_id, remote_addr, extra).
-- The history table has chrononaut_activity's columns (without the hashes) and the Python
-- library's index (key, table_name) only. Not done here, unlike chrononaut: timestamps in UTC
-- whatever the session's TimeZone, a re-inserted key continuing its version sequence, the
-- optimistic `SET version = n` check, strict mode, suppression, locks, the hash chain.
-- {{table}}: the benchmark table; {{history}}: its history table; {{history_index}}: the
-- index on it; {{bump}}, {{capture}}: the trigger functions (all quoted identifiers);
-- {{table_name}}: the table's name as a literal, for history rows.

CREATE TABLE {{history}} (
    id         bigserial PRIMARY KEY,
    table_name text        NOT NULL,
    changed    timestamptz NOT NULL,
    version    integer     NOT NULL DEFAULT 0,
    key        jsonb       NOT NULL DEFAULT '{}',
    data       jsonb       NOT NULL DEFAULT '{}',
    user_info  jsonb       NOT NULL DEFAULT '{}',
    extra_info jsonb       NOT NULL DEFAULT '{}',
    operation  text
);
CREATE INDEX {{history_index}} ON {{history}} (key, table_name);

CREATE FUNCTION {{bump}}() RETURNS trigger
LANGUAGE plpgsql
AS $bench$
BEGIN
    IF (NEW.id, NEW.name, NEW.email, NEW.note, NEW.n, NEW.updated, NEW.secret)
       IS DISTINCT FROM (OLD.id, OLD.name, OLD.email, OLD.note, OLD.n, OLD.updated, OLD.secret) THEN
        NEW.version := COALESCE(OLD.version, 0) + 1;
    ELSE
        NEW.version := OLD.version;
    END IF;
    RETURN NEW;
END $bench$;

CREATE FUNCTION {{capture}}() RETURNS trigger
LANGUAGE plpgsql
AS $bench$
DECLARE
    rec     {{table}};
    ver     integer;
    extra   jsonb := COALESCE(NULLIF(current_setting('chrononaut.extra', true), '')::jsonb, '{}');
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NEW.version IS NOT DISTINCT FROM OLD.version THEN
            RETURN NULL;                                  -- only untracked columns changed
        END IF;
        IF NEW.secret IS DISTINCT FROM OLD.secret THEN
            extra := extra || '{"hidden_cols_changed": ["secret"]}';
        END IF;
        rec := NEW;
        ver := NEW.version;
    ELSIF TG_OP = 'INSERT' THEN
        rec := NEW;
        ver := COALESCE(NEW.version, 0);
    ELSE
        rec := OLD;
        ver := COALESCE(OLD.version, 0) + 1;
    END IF;
    INSERT INTO {{history}} (table_name, changed, version, key, data, user_info, extra_info, operation)
    VALUES ({{table_name}}, now(), ver,
            jsonb_build_object('id', rec.id),
            (to_jsonb(rec) - 'secret' - 'seen') || jsonb_build_object('version', ver),
            jsonb_build_object('user_id', NULLIF(current_setting('chrononaut.user_id', true), ''),
                               'remote_addr', NULLIF(current_setting('chrononaut.remote_addr', true), '')),
            extra,
            lower(TG_OP));
    RETURN NULL;
END $bench$;

CREATE TRIGGER bench_rowlevel_bump
    BEFORE UPDATE ON {{table}}
    FOR EACH ROW EXECUTE FUNCTION {{bump}}();
CREATE TRIGGER bench_rowlevel_capture
    AFTER INSERT OR UPDATE OR DELETE ON {{table}}
    FOR EACH ROW EXECUTE FUNCTION {{capture}}();
