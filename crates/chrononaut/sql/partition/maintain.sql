-- Keeps the partitions (partition/functions.sql): one row per partition created.
SELECT partition_name, range_start, range_end, moved_rows FROM chrononaut.maintain_partitions()
