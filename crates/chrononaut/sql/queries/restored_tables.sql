-- True when a tracked table's capture functions were made for another table oid than the
-- table has now: the database was restored from a dump (pg_dump/pg_restore give every table a
-- new oid, and the functions, named after the old oid, still hold it: the lock-trigger switch
-- would look at the wrong table). `install` then makes every table's functions again.
-- `fn_suffix` is the oid the functions were made for (see track.rs).
SELECT EXISTS (
    SELECT 1
    FROM chrononaut.tracked AS t
    JOIN pg_catalog.pg_class AS c ON c.oid = t.relid
    WHERE t.fn_suffix <> t.relid::oid::text
)
