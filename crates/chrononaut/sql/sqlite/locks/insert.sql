-- A new lock: ?1 table_name, ?2 key text ('' for a freeze), ?3 locked_by (the context's user,
-- or 'anonymous': SQLite has no roles), ?4 user_id, ?5 reason, ?6 locked_at (ISO-8601 UTC).
INSERT INTO chrononaut_locks (table_name, key, locked_by, user_id, reason, locked_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6)
