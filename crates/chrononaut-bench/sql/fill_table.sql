-- The initial rows of a benchmark table (after its triggers exist, so tracked and reference
-- tables start with one insert row of history per record).
-- {{table}}: the table; {{rows}}: how many rows.
INSERT INTO {{table}} (id, name, email, note, n, updated, secret, seen)
SELECT g, 'name ' || g, 'user' || g || '@example.com',
       'an ordinary note of some length for row ' || g, g % 1000,
       now() - g * interval '1 minute', 'secret-' || g, 0
FROM generate_series(1, {{rows}}) AS g;
