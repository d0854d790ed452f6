-- Applies a change context to the current transaction. Every setting is transaction-local
-- (is_local = true): it ends with the transaction, so a pooled connection never carries one
-- user's context to the next. See install.sql for what each setting means.
--
-- Sent as a simple query (src/context.rs), so that `Chrononaut::begin` can send it in the same
-- round trip as its BEGIN: the values are escaped literals (the placeholders, filled by
-- template::fill_text from ident::quote_literal), never text spliced as is.
SELECT pg_catalog.set_config('chrononaut.user_id', {{user_id}}, true),
       pg_catalog.set_config('chrononaut.remote_addr', {{remote_addr}}, true),
       pg_catalog.set_config('chrononaut.extra', {{extra}}, true),
       pg_catalog.set_config('chrononaut.extra_auto', {{extra_auto}}, true),
       pg_catalog.set_config('chrononaut.record_extra', {{record_extra}}, true),
       -- the oids of the per-record extras' tables, in order, resolved here with the session's
       -- search_path (the capture functions run with a pinned one)
       pg_catalog.set_config('chrononaut.record_extra_relids', COALESCE((
           SELECT pg_catalog.jsonb_agg(pg_catalog.to_regclass(e.entry OPERATOR(pg_catalog.->>) 'table')::oid::int8
                                       ORDER BY e.n)::text
           FROM pg_catalog.jsonb_array_elements(NULLIF({{record_extra}}, '')::jsonb) WITH ORDINALITY AS e(entry, n)), ''), true),
       pg_catalog.set_config('chrononaut.suppress', {{suppress}}, true),
       pg_catalog.set_config('chrononaut.allow_delete_history', {{allow_delete_history}}, true)
