-- The rows a digest on SQLite covers (src/backend/sqlite_seal.rs), in id order (a range of the
-- primary key, no sort): ids up to ?1, of one history table_name (?2) or of all (?2 NULL).
-- Each row is digested by the sha256 of its content, as a seal hashes it with no previous
-- hash, so a later seal does not change the digest.
SELECT id, table_name, key, version, changed, data, user_info, extra_info, operation
FROM chrononaut_activity
WHERE id <= ?1 AND (?2 IS NULL OR table_name = ?2)
ORDER BY id
