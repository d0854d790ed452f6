-- The change context of the open transaction on SQLite (src/backend/sqlite.rs, `apply`): the
-- one row of chrononaut_context, which the capture triggers read (sql/sqlite/install.sql).
--   ?1 user_info (JSON object)  ?2 extra_info (JSON object)  ?3 suppressed (0/1)
INSERT OR REPLACE INTO chrononaut_context (id, user_info, extra_info, suppressed)
VALUES (1, ?1, ?2, ?3)
