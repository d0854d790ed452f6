-- Run by Chrononaut::maintain_partitions after a maintenance that moved rows out of the DEFAULT
-- partition has committed: the moved rows' index entries stay in DEFAULT's indexes (VACUUM frees
-- them but never shrinks a btree; 1M rows moved out left 248 MB of empty index). Rebuilt now
-- that the rows are gone for good (inside the maintenance's own transaction they were not
-- dead yet), they are as small as what DEFAULT still holds. Locks DEFAULT only, briefly.
DO $$
DECLARE
    d regclass;
BEGIN
    SELECT c.oid::regclass INTO d
    FROM pg_catalog.pg_inherits AS i
    JOIN pg_catalog.pg_class AS c ON c.oid = i.inhrelid
    WHERE i.inhparent = pg_catalog.to_regclass(pg_catalog.quote_ident(
              (SELECT m.value FROM chrononaut.meta AS m WHERE m.key = 'activity_schema'))
              || '.chrononaut_activity')
      AND pg_catalog.pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT';
    IF d IS NOT NULL THEN
        EXECUTE pg_catalog.format('REINDEX TABLE %s', d);
    END IF;
END $$
