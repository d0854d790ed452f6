-- The lock events of table ?1 (of the record with key text ?2 only, unless NULL), newest
-- first, at most ?3.
SELECT * FROM chrononaut_lock_events
WHERE table_name = ?1 AND (?2 IS NULL OR key = ?2)
ORDER BY changed DESC, id DESC
LIMIT ?3
