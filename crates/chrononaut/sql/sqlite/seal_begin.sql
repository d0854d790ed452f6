-- The first statement of a seal's transaction: a write that changes nothing, so that the
-- transaction holds SQLite's write lock from here on and no history row is written while the
-- seal reads and chains (a deferred transaction would only take it at its first real write).
UPDATE chrononaut_meta SET value = value WHERE key = 'schema_version'
