-- Tamper evidence: the hash chain of history rows. Part of the install (run after
-- install.sql, in the same transaction, idempotently).
--   <activity_schema>  quoted schema of the activity table
--
-- Every row the capture functions (and lock/unlock) write carries
--   prev_hash  the `hash` of the record's previous history row (ordered by changed, version,
--              id), NULL for the record's first row or when that row has no hash
--   hash       sha256(prev_hash || canonical form of the row), see chain_hash below
-- so each row commits to the whole history of its record before it. Rows written by the
-- Python library, by a legacy conversion or a baseline leave both NULL ("unchained").
-- Both columns are nullable without default: a Python writer that knows only the eight
-- columns still works, and adding them rewrites no row.
ALTER TABLE {{activity_schema}}.chrononaut_activity ADD COLUMN IF NOT EXISTS prev_hash bytea;
ALTER TABLE {{activity_schema}}.chrononaut_activity ADD COLUMN IF NOT EXISTS hash bytea;

-- The hash of one history row: sha256 of the previous hash followed by the UTF-8 text of a
-- JSON array of the row's content, exactly as `jsonb_build_array(table_name, key, version,
-- timezone('UTC', changed), data, user_info, extra_info, operation)::text` prints it. jsonb's
-- text output is deterministic (keys sorted, one spelling per value), `changed` is written in
-- UTC without depending on the session TimeZone. `id` is left out on purpose: the order of a
-- record's rows is what the chain itself fixes.
-- The array's text is assembled from the parts' own text (the same spelling: jsonb prints a
-- nested value as it prints it alone, strings and timestamps are JSON-escaped the same way by
-- to_json, elements are separated by ", "), which costs about a third less per row than
-- building the jsonb array and printing it (the nested objects would be copied into it first;
-- BENCHMARKS.md, "Capture cost, issue 8 part 2"). tests/integrity.rs checks the two spellings
-- agree, also on hostile values.
-- A plain SQL function that PostgreSQL inlines into the capture functions' INSERTs (no SET
-- clause, so it costs nothing per call); every name is qualified with pg_catalog so that
-- inlining into a caller's query cannot pick up a function or operator from its search_path.
CREATE OR REPLACE FUNCTION chrononaut.chain_hash(
    prev_hash bytea, table_name text, key jsonb, version integer, changed timestamptz,
    data jsonb, user_info jsonb, extra_info jsonb, operation text)
RETURNS bytea
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT pg_catalog.sha256(
        COALESCE(prev_hash, ''::pg_catalog.bytea) OPERATOR(pg_catalog.||)
        pg_catalog.convert_to(
            pg_catalog.concat(
                '[', COALESCE(pg_catalog.to_json(table_name)::pg_catalog.text, 'null'),
                ', ', COALESCE(key::pg_catalog.text, 'null'),
                ', ', COALESCE(version::pg_catalog.text, 'null'),
                ', ', COALESCE(pg_catalog.to_json(pg_catalog.timezone('UTC', changed))::pg_catalog.text, 'null'),
                ', ', COALESCE(data::pg_catalog.text, 'null'),
                ', ', COALESCE(user_info::pg_catalog.text, 'null'),
                ', ', COALESCE(extra_info::pg_catalog.text, 'null'),
                ', ', COALESCE(pg_catalog.to_json(operation)::pg_catalog.text, 'null'), ']'),
            'UTF8'))
$$;
COMMENT ON FUNCTION chrononaut.chain_hash(bytea, text, jsonb, integer, timestamptz, jsonb, jsonb, jsonb, text) IS
    'sha256(prev_hash || canonical row): the tamper-evidence hash of a chrononaut history row';
