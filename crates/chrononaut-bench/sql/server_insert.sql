-- Server-side measure: {{count}} single-row INSERTs of new ids {{first}} + 1 .. {{first}} +
-- {{count}}, each its own transaction. Run outside a transaction block.
-- {{table}}: the table; {{count}}: statements; {{first}}: the id before the first one.
DO $bench$
BEGIN
    FOR i IN 1..{{count}} LOOP
        INSERT INTO {{table}} (id, name, email, note, n, updated, secret, seen)
        VALUES ({{first}} + i, 'name ' || i, 'user' || i || '@example.com',
                'a new row, inserted by the benchmark', i % 1000, now(), 'secret-' || i, 0);
        COMMIT;
    END LOOP;
END $bench$;
