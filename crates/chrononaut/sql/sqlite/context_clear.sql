-- Removes the change context before a transaction commits, so that no later transaction is
-- recorded under it.
DELETE FROM chrononaut_context
