-- Whether the partition functions are installed (an install by an older release has none).
SELECT pg_catalog.to_regprocedure('chrononaut.maintain_partitions()') IS NOT NULL
   AND pg_catalog.to_regprocedure('chrononaut.may_maintain_partitions()') IS NOT NULL
