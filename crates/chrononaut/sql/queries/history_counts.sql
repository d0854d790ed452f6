-- History rows per table_name, in one pass over the activity table.
--   <activity>  the activity table, schema-qualified and quoted
SELECT table_name, count(*)::int8 AS rows
FROM {{activity}}
GROUP BY table_name
