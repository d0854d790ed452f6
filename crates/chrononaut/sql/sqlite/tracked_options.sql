-- A tracked table's options (?1 its table_name): hidden and untracked as JSON arrays, strict,
-- and the column names its triggers were made for. No row: not tracked.
SELECT hidden, untracked, strict, columns FROM chrononaut_tracked WHERE table_name = ?1
