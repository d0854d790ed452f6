-- Seals one batch (src/backend/sqlite_seal.rs): the hashes computed for it are put in the
-- connection's temporary table chrononaut_seal, then written in one statement. Filling a NULL
-- hash and changing nothing else is the one history update the append-only trigger allows
-- (sql/sqlite/install.sql).
CREATE TEMP TABLE IF NOT EXISTS chrononaut_seal (
    id INTEGER PRIMARY KEY,
    prev_hash BLOB,
    hash BLOB NOT NULL
);
