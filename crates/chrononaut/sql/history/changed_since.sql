-- Whether one record ($1 table_name, $2 key) has a version recorded after $3.
--   <activity>  the activity table, schema-qualified and quoted
SELECT EXISTS (
    SELECT 1 FROM {{activity}}
    WHERE table_name = $1 AND key = $2 AND changed > $3
)
