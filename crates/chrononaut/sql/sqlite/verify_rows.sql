-- Every history row of one table (?1) or of all (?1 NULL), record by record, each record's
-- rows in id order: what `verify` walks to recompute the chains (one pass, sorted once).
SELECT id, table_name, key, version, changed, data, user_info, extra_info, operation,
       prev_hash, hash
FROM chrononaut_activity
WHERE ?1 IS NULL OR table_name = ?1
ORDER BY table_name, key, id
