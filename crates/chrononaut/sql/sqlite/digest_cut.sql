-- Where a digest on SQLite ends (src/backend/sqlite_seal.rs): the highest history id (0: no
-- history) and the database's file, read in the digest's own read transaction. SQLite has one
-- writer at a time and ids only grow (AUTOINCREMENT), so every row up to this id is committed
-- and none will appear below it later.
SELECT coalesce((SELECT max(id) FROM chrononaut_activity), 0) AS max_id,
       (SELECT file FROM pragma_database_list WHERE name = 'main') AS file
