-- Optimistic concurrency from the library: the record's current version, its row locked FOR
-- UPDATE until the end of the transaction (so it cannot move between this check and the
-- caller's write). No row: there is no such record.
--   <table>   the table, schema-qualified and quoted
--   <cols_t>  its primary-key columns (without version) of alias t, comma-separated
--   <cols_r>  the same of alias r
-- $1: the key as jsonb (values converted to the column types by jsonb_populate_record).
SELECT t.version
FROM {{table}} AS t
WHERE ({{cols_t}}) = (SELECT {{cols_r}} FROM pg_catalog.jsonb_populate_record(NULL::{{table}}, $1) AS r)
FOR UPDATE OF t
