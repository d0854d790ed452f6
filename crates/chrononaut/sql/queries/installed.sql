-- The installed schema version, activity schema and strict default. Run only after
-- meta_exists.sql said chrononaut.meta exists.
SELECT (SELECT value FROM chrononaut.meta WHERE key = 'schema_version')::int4 AS schema_version,
       (SELECT value FROM chrononaut.meta WHERE key = 'activity_schema') AS activity_schema,
       COALESCE((SELECT value FROM chrononaut.meta WHERE key = 'strict_default'), 'false')::bool
           AS strict_default
