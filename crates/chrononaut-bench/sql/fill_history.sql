-- History-size sweep: {{count}} existing history rows of other keys, written straight into a
-- history table (as the superuser that owns it: no capture trigger runs, the append-only
-- guard covers UPDATE/DELETE/TRUNCATE only). Keys start far above any id the benchmark
-- writes ({{first}} + 1 ...), so the capture of the workloads never touches them: a capture
-- whose cost grows with these rows reads history it does not need. The rows are spread over
-- the table names in {{names}} (a text[] literal), shaped like real insert rows (the hash
-- column, where the table has one, is filled by the caller's {{hash_column}} /
-- {{hash_value}} pair, or by an empty pair).
-- {{history}}: the history table (quoted identifier).
INSERT INTO {{history}} (table_name, changed, version, key, data, user_info, extra_info, operation{{hash_column}})
SELECT names[1 + g % cardinality(names)],
       now() - interval '1 year' + g * interval '1 millisecond',
       0,
       jsonb_build_object('id', {{first}} + g),
       jsonb_build_object('id', {{first}} + g, 'name', 'name ' || g, 'email', 'user' || g || '@example.com',
                          'note', 'an ordinary note of some length for row ' || g, 'n', g % 1000,
                          'updated', '2026-01-01T00:00:00+00:00', 'version', 0),
       '{"user_id": null, "remote_addr": null}',
       '{}',
       'insert'{{hash_value}}
FROM generate_series(1, {{count}}) AS g, (SELECT {{names}}::text[] AS names) AS n;
