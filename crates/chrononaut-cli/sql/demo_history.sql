-- What the demo recorded: the history of chrononaut_demo.products, oldest first.
--   {{activity}}  the activity table, schema-qualified and quoted
SELECT version, operation, key, data, user_info, extra_info,
       (data - 'version' - 'updated_at')::text AS shown,
       to_char(changed AT TIME ZONE 'UTC', 'HH24:MI:SS.MS') AS at
FROM {{activity}}
WHERE table_name = 'chrononaut_demo.products' AND changed >= $1
ORDER BY changed, version, id
