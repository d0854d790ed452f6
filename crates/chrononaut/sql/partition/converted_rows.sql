-- The rows partition/convert.sql copied, in this transaction.
SELECT pg_catalog.current_setting('chrononaut.converted_rows')
