-- After a baseline (sql/sqlite/baseline.sql): a row whose only history is its baseline
-- version 0 but whose own `version` column says otherwise (a column of that name existed
-- before tracking) is set to 0. The update trigger accepts it (0 is the record's latest
-- history version) and records nothing: no tracked column changes.
-- Placeholders as in baseline.sql.
UPDATE {{table}} AS t SET version = 0
WHERE t.version IS NOT 0
  AND (SELECT a.version FROM chrononaut_activity AS a
       WHERE a.table_name = {{table_name}} AND a.key = {{key_t}}
       ORDER BY a.changed DESC, a.version DESC LIMIT 1) = 0;
