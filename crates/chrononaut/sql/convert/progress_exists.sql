-- Whether the progress table exists (a dry run reads progress but creates nothing).
SELECT pg_catalog.to_regclass('chrononaut.conversions') IS NOT NULL
