-- The partitioning recorded by a partitioned install (partition/create.sql): one row, NULLs
-- when the activity table is not partitioned by chrononaut.
SELECT (SELECT m.value FROM chrononaut.meta AS m WHERE m.key = 'partition') AS partition,
       (SELECT m.value FROM chrononaut.meta AS m WHERE m.key = 'partition_ahead') AS partition_ahead
