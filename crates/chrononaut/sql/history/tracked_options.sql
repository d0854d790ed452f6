-- The tracking options of table $1 (oid) that shape its history: hidden and untracked columns,
-- and whether record-changes columns are filled (they are kept out of `data`). No row when the
-- table is not tracked by this library (e.g. history written by the Python library only).
SELECT t.hidden, t.untracked, t.record_changes
FROM chrononaut.tracked t
WHERE t.relid = $1::int8::oid
