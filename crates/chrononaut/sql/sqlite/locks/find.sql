-- One lock by its primary key: ?1 table_name, ?2 key text ('' for a freeze).
SELECT * FROM chrononaut_locks WHERE table_name = ?1 AND key = ?2
