-- Writes the batch held in temp.chrononaut_seal (sql/sqlite/seal_update.sql) and empties it.
UPDATE chrononaut_activity
SET prev_hash = s.prev_hash, hash = s.hash
FROM temp.chrononaut_seal AS s
WHERE chrononaut_activity.id = s.id AND chrononaut_activity.hash IS NULL;
DELETE FROM temp.chrononaut_seal;
