-- Writes the checkpoints, records the prune and drops the partitions ($2, as the plan named
-- them) of a prune before $1 that removed $3 rows with digest $4, archived in $5 (or NULL):
-- chrononaut.prune_apply in functions.sql.
SELECT r.prune_id, r.checkpoints, r.cut FROM chrononaut.prune_apply($1, $2, $3, $4, $5) AS r
