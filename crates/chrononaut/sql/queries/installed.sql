-- The installed schema version, activity schema, strict default and whether the activity table
-- is partitioned. Run only after meta_exists.sql said chrononaut.meta exists.
SELECT (SELECT value FROM chrononaut.meta WHERE key = 'schema_version')::int4 AS schema_version,
       (SELECT value FROM chrononaut.meta WHERE key = 'activity_schema') AS activity_schema,
       COALESCE((SELECT value FROM chrononaut.meta WHERE key = 'strict_default'), 'false')::bool
           AS strict_default,
       COALESCE((SELECT c.relkind = 'p' FROM pg_catalog.pg_class AS c
                 WHERE c.oid = pg_catalog.to_regclass(pg_catalog.quote_ident(
                           (SELECT value FROM chrononaut.meta WHERE key = 'activity_schema'))
                       || '.chrononaut_activity')), false) AS partitioned
