-- Server-side measure: {{count}} single-row UPDATEs of random ids, each its own transaction
-- (COMMIT in the loop, so statement-level and per-transaction work happens per statement as
-- for a client). The id is drawn into a variable first: `WHERE id = 1 + random() ...` would
-- be evaluated per row (a sequential scan). Run outside a transaction block.
-- {{table}}: the table; {{count}}: statements; {{rows}}: ids 1..rows exist.
DO $bench$
DECLARE
    target bigint;
BEGIN
    FOR i IN 1..{{count}} LOOP
        target := 1 + floor(random() * {{rows}})::bigint;
        UPDATE {{table}} SET n = n + 1, note = 'note ' || i WHERE id = target;
        COMMIT;
    END LOOP;
END $bench$;
