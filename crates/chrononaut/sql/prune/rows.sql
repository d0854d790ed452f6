-- The rows of one partition being pruned (its range [$1, $2)), in id order, each as the JSON
-- line the archive holds and the digest covers: the activity table's columns, `changed` in UTC
-- with microseconds, JSON columns as PostgreSQL prints them, hashes in hex. Keys in this order,
-- always: the digest depends on the exact text.
--   <activity>  the activity table, schema-qualified and quoted
SELECT pg_catalog.json_build_object(
           'id', a.id, 'table_name', a.table_name,
           'changed', pg_catalog.to_char(a.changed AT TIME ZONE 'UTC',
                                         'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
           'version', a.version, 'key', a.key, 'data', a.data, 'user_info', a.user_info,
           'extra_info', a.extra_info, 'operation', a.operation,
           'prev_hash', pg_catalog.encode(a.prev_hash, 'hex'),
           'hash', pg_catalog.encode(a.hash, 'hex'))::text AS line
FROM {{activity}} AS a
WHERE a.changed >= $1 AND a.changed < $2
ORDER BY a.id
