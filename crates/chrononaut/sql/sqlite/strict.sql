-- Strict mode's refusal (one statement of a capture trigger, sql/sqlite/capture.sql): a write
-- without extra change info in the context (a rationale, for one) is refused, unless
-- versioning is suppressed.  <when>: more conditions (the update trigger's "a version would
-- be recorded"), or 1.
SELECT RAISE(ABORT, 'CN001: strict mode: changes to this table need a rationale (extra change info in chrononaut_context)')
WHERE ({{when}})
  AND NOT EXISTS (SELECT 1 FROM chrononaut_context WHERE extra_info <> '{}' OR suppressed);
