-- A lock or unlock event: ?1 table_name, ?2 key text (NULL for a freeze), ?3 the record's
-- version then, ?4 'lock' / 'unlock', ?5 the time, ?6 user_info, ?7 extra_info (with the reason).
INSERT INTO chrononaut_lock_events
    (table_name, key, version, operation, changed, user_info, extra_info)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
