-- SQLite reference design for the `sqlite_writes` benchmark: the shape of sqlite-history /
-- sqlite-history-json, written here for the benchmark (not their code). One audit table and
-- three row triggers on the fixed table `bench_reference`:
--   * AFTER INSERT records every column of the new row as JSON;
--   * AFTER UPDATE records only the columns whose value changed, their new values, as one JSON
--     object (built by json_patch of one json_object per changed column; a NULL new value is
--     written as {"null": 1}, since a JSON merge patch drops null members); an update that
--     changes nothing records nothing;
--   * AFTER DELETE records the operation and the key only.
-- No versions, no context (who / why), no hidden or untracked columns, no re-insert
-- continuation, no append-only guard: what chrononaut's capture adds is what the benchmark
-- measures beside it. The audit table has one index, on the record's key, for its reads.

CREATE TABLE bench_reference_history (
    id INTEGER PRIMARY KEY,
    changed TEXT NOT NULL,
    operation TEXT NOT NULL,
    pk INTEGER NOT NULL,
    updated_values TEXT NOT NULL
);
CREATE INDEX bench_reference_history_pk ON bench_reference_history (pk);

CREATE TRIGGER bench_reference_insert AFTER INSERT ON bench_reference
BEGIN
    INSERT INTO bench_reference_history (changed, operation, pk, updated_values)
    VALUES (strftime('%Y-%m-%d %H:%M:%f', 'now'), 'insert', NEW.id,
            json_object('id', NEW.id, 'name', NEW.name, 'qty', NEW.qty, 'note', NEW.note,
                        'version', NEW.version));
END;

CREATE TRIGGER bench_reference_update AFTER UPDATE ON bench_reference
WHEN OLD.id IS NOT NEW.id OR OLD.name IS NOT NEW.name OR OLD.qty IS NOT NEW.qty
     OR OLD.note IS NOT NEW.note OR OLD.version IS NOT NEW.version
BEGIN
    INSERT INTO bench_reference_history (changed, operation, pk, updated_values)
    VALUES (strftime('%Y-%m-%d %H:%M:%f', 'now'), 'update', NEW.id,
            json_patch(json_patch(json_patch(json_patch(json_patch('{}',
                CASE WHEN OLD.id IS NOT NEW.id THEN json_object('id', NEW.id) ELSE '{}' END),
                CASE WHEN OLD.name IS NOT NEW.name
                     THEN json_object('name', iif(NEW.name IS NULL, json_object('null', 1), NEW.name))
                     ELSE '{}' END),
                CASE WHEN OLD.qty IS NOT NEW.qty
                     THEN json_object('qty', iif(NEW.qty IS NULL, json_object('null', 1), NEW.qty))
                     ELSE '{}' END),
                CASE WHEN OLD.note IS NOT NEW.note
                     THEN json_object('note', iif(NEW.note IS NULL, json_object('null', 1), NEW.note))
                     ELSE '{}' END),
                CASE WHEN OLD.version IS NOT NEW.version
                     THEN json_object('version', iif(NEW.version IS NULL, json_object('null', 1), NEW.version))
                     ELSE '{}' END));
END;

CREATE TRIGGER bench_reference_delete AFTER DELETE ON bench_reference
BEGIN
    INSERT INTO bench_reference_history (changed, operation, pk, updated_values)
    VALUES (strftime('%Y-%m-%d %H:%M:%f', 'now'), 'delete', OLD.id, '{}');
END;
