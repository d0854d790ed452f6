-- The tracking options of table $1 (oid) when chrononaut tracks it: converted rows leave out
-- the same columns the triggers leave out.
SELECT hidden, untracked, record_changes
FROM chrononaut.tracked
WHERE relid = $1::int8::oid
