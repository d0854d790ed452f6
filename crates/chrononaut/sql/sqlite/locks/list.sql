-- The locks in force, of table ?1 (NULL: of every table), by table and key: a freeze (key '')
-- first.
SELECT * FROM chrononaut_locks
WHERE ?1 IS NULL OR table_name = ?1
ORDER BY table_name, key
