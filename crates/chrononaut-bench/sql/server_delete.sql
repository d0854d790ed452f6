-- Server-side measure: {{count}} single-row DELETEs of the ids {{first}} + 1 .. {{first}} +
-- {{count}} that server_insert.sql inserted, each its own transaction. Run outside a
-- transaction block.
-- {{table}}: the table; {{count}}: statements; {{first}}: the id before the first one.
DO $bench$
BEGIN
    FOR i IN 1..{{count}} LOOP
        DELETE FROM {{table}} WHERE id = {{first}} + i;
        COMMIT;
    END LOOP;
END $bench$;
