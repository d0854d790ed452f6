-- chrononaut's schema on SQLite (src/backend/sqlite.rs runs it; every statement is idempotent,
-- so install runs again on an installed file to upgrade it).
--
-- The activity table has the same columns as on PostgreSQL and as the Python library's, in
-- SQLite's types: JSON as text, timestamps as ISO-8601 text in UTC with microseconds
-- (`2026-12-02T19:30:00.123000+00:00`: the same text sorts the same), hashes as blobs.
-- SQLite has no roles: whoever can write the file can change anything in it, triggers
-- included (README "SQLite: where its guarantees stop").

CREATE TABLE IF NOT EXISTS chrononaut_activity (
    id INTEGER PRIMARY KEY AUTOINCREMENT,   -- never reused, like a PostgreSQL sequence
    table_name TEXT NOT NULL,
    changed TEXT NOT NULL,
    version INTEGER NOT NULL DEFAULT 0,
    key TEXT NOT NULL DEFAULT '{}',
    data TEXT NOT NULL DEFAULT '{}',
    user_info TEXT NOT NULL DEFAULT '{}',
    extra_info TEXT NOT NULL DEFAULT '{}',
    operation TEXT,                         -- insert / update / delete; NULL from other writers
    prev_hash BLOB,                         -- the chain, written by `chrononaut seal`
    hash BLOB
);

-- The Python library's index, and ours: a record's versions in time order (every capture
-- probe and every per-record read is a range of it).
CREATE INDEX IF NOT EXISTS ix_chrononaut_activity_key_table_name
    ON chrononaut_activity (key, table_name);
CREATE INDEX IF NOT EXISTS ix_chrononaut_activity_table_key_changed
    ON chrononaut_activity (table_name, key, changed, version);

-- History is append-only: no writer may change or remove a version. (Sealing fills prev_hash
-- and hash of rows that have none and changes nothing else; that is the one update allowed.)
CREATE TRIGGER IF NOT EXISTS chrononaut_activity_append_only_update
BEFORE UPDATE ON chrononaut_activity
WHEN NOT (OLD.hash IS NULL AND NEW.hash IS NOT NULL
          AND NEW.id IS OLD.id AND NEW.table_name IS OLD.table_name
          AND NEW.changed IS OLD.changed AND NEW.version IS OLD.version
          AND NEW.key IS OLD.key AND NEW.data IS OLD.data
          AND NEW.user_info IS OLD.user_info AND NEW.extra_info IS OLD.extra_info
          AND NEW.operation IS OLD.operation)
BEGIN
    SELECT RAISE(ABORT, 'CN002: chrononaut_activity is append-only: a version cannot be changed');
END;
CREATE TRIGGER IF NOT EXISTS chrononaut_activity_append_only_delete
BEFORE DELETE ON chrononaut_activity
BEGIN
    SELECT RAISE(ABORT, 'CN002: chrononaut_activity is append-only: a version cannot be removed');
END;

-- The tracked tables and their options (hidden / untracked: JSON arrays of column names).
CREATE TABLE IF NOT EXISTS chrononaut_tracked (
    table_name TEXT PRIMARY KEY,
    hidden TEXT NOT NULL DEFAULT '[]',
    untracked TEXT NOT NULL DEFAULT '[]',
    strict INTEGER NOT NULL DEFAULT 0,
    tracked_at TEXT NOT NULL,
    columns TEXT NOT NULL DEFAULT '[]'      -- the table's columns when its triggers were made
);

-- The change context of the transaction being written: who, from where, why. A writer puts
-- its one row here inside its transaction, before its changes, and deletes it before it
-- commits (SQLite has one writer at a time, and no other connection sees an uncommitted
-- row, so the row is private to the transaction that wrote it). No row: the change is
-- recorded with user and address unknown. `suppressed` = 1: changes are not versioned.
CREATE TABLE IF NOT EXISTS chrononaut_context (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    user_info TEXT NOT NULL DEFAULT '{"user_id":null,"remote_addr":null}',
    extra_info TEXT NOT NULL DEFAULT '{}',
    suppressed INTEGER NOT NULL DEFAULT 0
);

-- Record locks and table freezes (src/backend/sqlite_locks.rs): one row per locked record
-- (`key` the history key's text) or frozen table (`key` = ''). While a table has a row here
-- it carries the refusing triggers of sql/sqlite/lock_triggers.sql; a table without locks
-- has none and pays nothing. SQLite has no roles: `locked_by` is the context's user when the
-- locking transaction had one, and anyone who can write the file can unlock.
CREATE TABLE IF NOT EXISTS chrononaut_locks (
    table_name TEXT NOT NULL,
    key TEXT NOT NULL,
    locked_by TEXT NOT NULL,
    user_id TEXT,
    reason TEXT NOT NULL,
    locked_at TEXT NOT NULL,
    PRIMARY KEY (table_name, key)
);

-- Lock and unlock events: not versions, so not in chrononaut_activity (the Python reader
-- sees versions only); append-only like the history.
CREATE TABLE IF NOT EXISTS chrononaut_lock_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    table_name TEXT NOT NULL,
    key TEXT,                               -- NULL: the whole table (a freeze)
    version INTEGER,                        -- the record's version then (locking keeps it)
    operation TEXT NOT NULL,                -- lock / unlock
    changed TEXT NOT NULL,
    user_info TEXT NOT NULL DEFAULT '{}',
    extra_info TEXT NOT NULL DEFAULT '{}'   -- the context's, with the lock's reason
);
CREATE INDEX IF NOT EXISTS ix_chrononaut_lock_events_table_changed
    ON chrononaut_lock_events (table_name, changed);
CREATE TRIGGER IF NOT EXISTS chrononaut_lock_events_append_only_update
BEFORE UPDATE ON chrononaut_lock_events
BEGIN
    SELECT RAISE(ABORT, 'CN002: chrononaut_lock_events is append-only: an event cannot be changed');
END;
CREATE TRIGGER IF NOT EXISTS chrononaut_lock_events_append_only_delete
BEFORE DELETE ON chrononaut_lock_events
BEGIN
    SELECT RAISE(ABORT, 'CN002: chrononaut_lock_events is append-only: an event cannot be removed');
END;

CREATE TABLE IF NOT EXISTS chrononaut_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO chrononaut_meta (key, value) VALUES ('schema_version', '2')
    ON CONFLICT (key) DO UPDATE SET value = excluded.value;
