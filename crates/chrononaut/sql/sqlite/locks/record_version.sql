-- A record's latest history version, for its lock event (locking does not change it):
-- ?1 table_name, ?2 key text. One range of ix_chrononaut_activity_table_key_changed.
SELECT version FROM chrononaut_activity
WHERE table_name = ?1 AND key = ?2
ORDER BY changed DESC, version DESC
LIMIT 1
