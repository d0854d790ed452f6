-- Server-side measure: {{count}} UPDATEs of 1000 consecutive rows from a random start, each
-- its own transaction. Run outside a transaction block.
-- {{table}}: the table; {{count}}: statements; {{rows}}: ids 1..rows exist (rows >= 1000).
DO $bench$
DECLARE
    start bigint;
BEGIN
    FOR i IN 1..{{count}} LOOP
        start := 1 + floor(random() * ({{rows}} - 999))::bigint;
        UPDATE {{table}} SET n = n + 1 WHERE id BETWEEN start AND start + 999;
        COMMIT;
    END LOOP;
END $bench$;
