-- The baseline of ONE tracked SQLite table: rows that exist without any history (they were
-- there before tracking began) are recorded as version 0, operation 'insert', extra_info
-- {"baseline": true}, as on PostgreSQL (sql/history/baseline.sql). Filled by
-- src/backend/sqlite.rs and run in one transaction: SQLite has one writer at a time, so no
-- change can slip between the two statements, and the first write takes the write lock.
--
-- Placeholders, <name> here: <table> the table, quoted; <table_name> its history
-- table_name, a literal; <key_t> <data_t> the key and data of the row under alias t (the
-- version being written is s.v = 0); <now> the time, ISO-8601 UTC with microseconds.
-- Returns nothing; the caller reads changes() after the INSERT.

INSERT INTO chrononaut_activity
    (table_name, changed, version, key, data, user_info, extra_info, operation)
SELECT {{table_name}}, {{now}}, 0, {{key_t}}, {{data_t}},
       coalesce((SELECT c.user_info FROM chrononaut_context AS c WHERE c.id = 1),
                '{"user_id":null,"remote_addr":null}'),
       '{"baseline":true}', 'insert'
FROM {{table}} AS t, (SELECT 0 AS v) AS s
-- one probe of ix_chrononaut_activity_table_key_changed per row
WHERE NOT EXISTS (SELECT 1 FROM chrononaut_activity AS a
                  WHERE a.table_name = {{table_name}} AND a.key = {{key_t}});
