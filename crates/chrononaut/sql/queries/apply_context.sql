-- Applies a change context to the current transaction in one round trip. Every setting is
-- transaction-local (is_local = true): it ends with the transaction, so a pooled connection
-- never carries one user's context to the next. See install.sql for what each setting means.
SELECT pg_catalog.set_config('chrononaut.user_id', $1, true),
       pg_catalog.set_config('chrononaut.remote_addr', $2, true),
       pg_catalog.set_config('chrononaut.extra', $3, true),
       pg_catalog.set_config('chrononaut.extra_auto', $4, true),
       pg_catalog.set_config('chrononaut.record_extra', $5, true),
       -- the oids of the per-record extras' tables, in order, resolved here with the session's
       -- search_path (the capture functions run with a pinned one)
       pg_catalog.set_config('chrononaut.record_extra_relids', COALESCE((
           SELECT pg_catalog.jsonb_agg(pg_catalog.to_regclass(e.entry OPERATOR(pg_catalog.->>) 'table')::oid::int8
                                       ORDER BY e.n)::text
           FROM pg_catalog.jsonb_array_elements(NULLIF($5, '')::jsonb) WITH ORDINALITY AS e(entry, n)), ''), true),
       pg_catalog.set_config('chrononaut.suppress', $6, true),
       pg_catalog.set_config('chrononaut.allow_delete_history', $7, true)
