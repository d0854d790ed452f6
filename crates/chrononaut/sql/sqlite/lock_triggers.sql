-- The refusing triggers of ONE SQLite table while it has locks (src/backend/sqlite_locks.rs
-- creates them with its first lock and drops them with its last). BEFORE row triggers, so
-- they refuse whoever writes (this library, the sqlite3 shell, another process) before any
-- change or history is made: an UPDATE or DELETE of a locked record, and while the table is
-- frozen (key ''), any INSERT, UPDATE or DELETE. One probe of chrononaut_locks' primary key
-- per row written. (SQLite has no TRUNCATE: a DELETE without WHERE fires the row triggers.)
-- Placeholders, <name> here: <table> the table, quoted; <table_name> its history name, a
-- literal; <trg_insert> <trg_update> <trg_delete> the triggers' names, quoted; <key_new>
-- <key_old> the record's key text (json_object of the primary key).

CREATE TRIGGER IF NOT EXISTS {{trg_insert}} BEFORE INSERT ON {{table}}
WHEN EXISTS (SELECT 1 FROM chrononaut_locks AS l
             WHERE l.table_name = {{table_name}} AND l.key IN ('', {{key_new}}))
BEGIN
    SELECT RAISE(ABORT, 'CN006: write refused: the table or record is locked (chrononaut locks tells who locked it and why; chrononaut unlock removes it)');
END;

CREATE TRIGGER IF NOT EXISTS {{trg_update}} BEFORE UPDATE ON {{table}}
WHEN EXISTS (SELECT 1 FROM chrononaut_locks AS l
             WHERE l.table_name = {{table_name}} AND l.key IN ('', {{key_old}}, {{key_new}}))
BEGIN
    SELECT RAISE(ABORT, 'CN006: write refused: the table or record is locked (chrononaut locks tells who locked it and why; chrononaut unlock removes it)');
END;

CREATE TRIGGER IF NOT EXISTS {{trg_delete}} BEFORE DELETE ON {{table}}
WHEN EXISTS (SELECT 1 FROM chrononaut_locks AS l
             WHERE l.table_name = {{table_name}} AND l.key IN ('', {{key_old}}))
BEGIN
    SELECT RAISE(ABORT, 'CN006: write refused: the table or record is locked (chrononaut locks tells who locked it and why; chrononaut unlock removes it)');
END;
