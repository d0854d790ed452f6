-- Capture triggers for ONE tracked SQLite table. `track` fills this template
-- (src/backend/sqlite.rs) and runs it in the transaction that records the table's options.
--
-- SQLite has row triggers only, so each write of a tracked row records its version in the
-- same statement, whoever the writer is (this library, the sqlite3 shell, Python's sqlite3,
-- another process). The row's `version` column is kept in step by an UPDATE of the row inside
-- the trigger (SQLite's triggers cannot change NEW); that UPDATE changes no tracked column,
-- so the update trigger records nothing for it, whether or not recursive_triggers is on.
--
-- The context is the one row of chrononaut_context, written by the writer inside its
-- transaction (sql/sqlite/install.sql). Every history probe is a range of
-- ix_chrononaut_activity_table_key_changed for one key, newest first, LIMIT 1.
--
-- Placeholders, <name> here (built by src/backend/sqlite.rs from quoted identifiers and literals):
--   <table> the table, quoted                <table_name> its history table_name, a literal
--   <trg_insert> <trg_update> <trg_delete> the triggers' names, quoted
--   <key_new> <key_old>                    the record's key: json_object of the primary key
--   <data_new> <data_old>                  json_object of the recorded columns and
--                                              'version', s.v (s: the version computed below)
--   <changed>                                a tracked or hidden column differs, OLD/NEW
--   <key_changed>                            a primary-key column differs
--   <pk_new>                                 the row of NEW, by its primary key
--   <extra_insert> <extra_update>          extra_info: the context's, with
--                                              hidden_cols_changed where hidden columns
--                                              were set (insert) or changed (update)
--   <strict_insert> <strict_update> <strict_delete>  strict mode's refusal, or nothing
--   <time>                                   the version's time, ISO-8601 UTC with microseconds:
--                                              now, or 1 µs after s.t (the record's latest
--                                              history time) when the clock (milliseconds)
--                                              has not passed it

CREATE TRIGGER {{trg_insert}} AFTER INSERT ON {{table}}
BEGIN
    {{strict_insert}}
    -- A key without history starts at version 0. A key with history continues after its
    -- latest version: a re-insert after a delete, or INSERT OR REPLACE of a live row (SQLite
    -- deletes the old row without firing delete triggers unless recursive_triggers is on),
    -- which is recorded as the update it is.
    INSERT INTO chrononaut_activity
        (table_name, changed, version, key, data, user_info, extra_info, operation)
    SELECT {{table_name}}, {{time}}, s.v, s.k, {{data_new}},
           coalesce(c.user_info, '{"user_id":null,"remote_addr":null}'), {{extra_insert}},
           CASE WHEN s.live THEN 'update' ELSE 'insert' END
    FROM (SELECT q.k, coalesce(p.version + 1, 0) AS v, p.changed AS t,
                 (p.id IS NOT NULL AND p.operation IS NOT 'delete') AS live
          FROM (SELECT {{key_new}} AS k) AS q
          LEFT JOIN chrononaut_activity AS p ON p.id = (
              SELECT a.id FROM chrononaut_activity AS a
              WHERE a.table_name = {{table_name}} AND a.key = q.k
              ORDER BY a.changed DESC, a.version DESC LIMIT 1)) AS s
    LEFT JOIN chrononaut_context AS c ON c.id = 1
    WHERE coalesce(c.suppressed, 0) = 0;
    -- The row's version must be its latest history version (a re-insert, an explicit version).
    UPDATE {{table}} SET version = (SELECT a.version FROM chrononaut_activity AS a
                                    WHERE a.id = last_insert_rowid())
    WHERE {{pk_new}}
      AND version IS NOT (SELECT a.version FROM chrononaut_activity AS a
                          WHERE a.id = last_insert_rowid())
      AND NOT EXISTS (SELECT 1 FROM chrononaut_context WHERE suppressed);
END;

CREATE TRIGGER {{trg_update}} AFTER UPDATE ON {{table}}
WHEN {{changed}} OR {{key_changed}} OR NEW.version IS NOT OLD.version
BEGIN
    -- `SET version = n` is an optimistic check, not a write: a number other than the row's
    -- own (or, for the version's own upkeep, its latest history version) is stale.
    SELECT RAISE(ABORT, 'CN005: stale version: the record has changed since that version was read')
    WHERE NEW.version IS NOT OLD.version
      AND NEW.version IS NOT (SELECT a.version FROM chrononaut_activity AS a
                              WHERE a.table_name = {{table_name}} AND a.key = {{key_new}}
                              ORDER BY a.changed DESC, a.version DESC LIMIT 1);
    {{strict_update}}
    -- A primary-key change ends the old key's record with a delete version, as a DELETE would.
    INSERT INTO chrononaut_activity
        (table_name, changed, version, key, data, user_info, extra_info, operation)
    SELECT {{table_name}}, {{time}}, s.v, {{key_old}}, {{data_old}},
           coalesce(c.user_info, '{"user_id":null,"remote_addr":null}'),
           coalesce(c.extra_info, '{}'), 'delete'
    FROM (SELECT coalesce(OLD.version, 0) + 1 AS v,
                 (SELECT a.changed FROM chrononaut_activity AS a
                  WHERE a.table_name = {{table_name}} AND a.key = {{key_old}}
                  ORDER BY a.changed DESC, a.version DESC LIMIT 1) AS t) AS s
    LEFT JOIN chrononaut_context AS c ON c.id = 1
    WHERE coalesce(c.suppressed, 0) = 0 AND ({{key_changed}});
    -- The new version: the row's own + 1 (a moved row also continues any history of its new key).
    INSERT INTO chrononaut_activity
        (table_name, changed, version, key, data, user_info, extra_info, operation)
    SELECT {{table_name}}, {{time}}, s.v, {{key_new}}, {{data_new}},
           coalesce(c.user_info, '{"user_id":null,"remote_addr":null}'), {{extra_update}},
           'update'
    FROM (SELECT CASE WHEN {{key_changed}}
                      THEN max(coalesce(OLD.version, 0) + 1,
                               coalesce((SELECT a.version + 1 FROM chrononaut_activity AS a
                                         WHERE a.table_name = {{table_name}}
                                           AND a.key = {{key_new}}
                                         ORDER BY a.changed DESC, a.version DESC LIMIT 1), 0))
                      ELSE coalesce(OLD.version, 0) + 1 END AS v,
                 (SELECT a.changed FROM chrononaut_activity AS a
                  WHERE a.table_name = {{table_name}} AND a.key = {{key_new}}
                  ORDER BY a.changed DESC, a.version DESC LIMIT 1) AS t) AS s
    LEFT JOIN chrononaut_context AS c ON c.id = 1
    WHERE coalesce(c.suppressed, 0) = 0 AND ({{changed}} OR {{key_changed}});
    UPDATE {{table}} SET version = (SELECT a.version FROM chrononaut_activity AS a
                                    WHERE a.id = last_insert_rowid())
    WHERE {{pk_new}} AND ({{changed}} OR {{key_changed}})
      AND NOT EXISTS (SELECT 1 FROM chrononaut_context WHERE suppressed);
END;

CREATE TRIGGER {{trg_delete}} AFTER DELETE ON {{table}}
BEGIN
    {{strict_delete}}
    INSERT INTO chrononaut_activity
        (table_name, changed, version, key, data, user_info, extra_info, operation)
    SELECT {{table_name}}, {{time}}, s.v, {{key_old}}, {{data_old}},
           coalesce(c.user_info, '{"user_id":null,"remote_addr":null}'),
           coalesce(c.extra_info, '{}'), 'delete'
    FROM (SELECT coalesce(OLD.version, 0) + 1 AS v,
                 (SELECT a.changed FROM chrononaut_activity AS a
                  WHERE a.table_name = {{table_name}} AND a.key = {{key_old}}
                  ORDER BY a.changed DESC, a.version DESC LIMIT 1) AS t) AS s
    LEFT JOIN chrononaut_context AS c ON c.id = 1
    WHERE coalesce(c.suppressed, 0) = 0;
END;
