-- Whether chrononaut's schema was ever installed in this database.
SELECT pg_catalog.to_regclass('chrononaut.meta') IS NOT NULL
