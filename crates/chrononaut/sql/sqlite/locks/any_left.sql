-- Whether table ?1 still has a lock (else its refusing triggers are dropped).
SELECT EXISTS (SELECT 1 FROM chrononaut_locks WHERE table_name = ?1)
