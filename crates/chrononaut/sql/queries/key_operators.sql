-- The primary-key columns of table $1 (oid), in key order, each with the equality operator of
-- its primary-key index's operator class (schema and name): the generated capture code joins
-- rows by key with exactly these operators, never with an `=` found through a search_path.
SELECT a.attname::text AS name,
       opn.nspname::text AS op_schema,
       op.oprname::text AS op_name
FROM pg_catalog.pg_index i
CROSS JOIN LATERAL ROWS FROM (pg_catalog.unnest(i.indkey::pg_catalog.int2[]), pg_catalog.unnest(i.indclass::pg_catalog.oid[]))
    WITH ORDINALITY AS k(attnum, opclass, ord)
JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
JOIN pg_catalog.pg_opclass oc ON oc.oid = k.opclass
JOIN pg_catalog.pg_amop ao ON ao.amopfamily = oc.opcfamily AND ao.amopmethod = oc.opcmethod
                          AND ao.amoplefttype = oc.opcintype AND ao.amoprighttype = oc.opcintype
                          AND ao.amopstrategy = 3
JOIN pg_catalog.pg_operator op ON op.oid = ao.amopopr
JOIN pg_catalog.pg_namespace opn ON opn.oid = op.oprnamespace
WHERE i.indrelid = $1::int8::oid AND i.indisprimary
ORDER BY k.ord
