-- Every recorded prune, oldest first.
SELECT id, pruned_at, pruned_by, before, cut, partitions, rows, checkpoints, digest, archive
FROM chrononaut.prunes
ORDER BY id
