-- The partitions a prune before $1 drops, oldest first (chrononaut.prune_plan, functions.sql:
-- checks the privilege, refuses stray rows in DEFAULT, locks the partitions).
SELECT p.partition, p.lower, p.upper FROM chrononaut.prune_plan($1) AS p ORDER BY p.lower
