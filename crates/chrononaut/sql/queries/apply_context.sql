-- Applies a change context to the current transaction in one round trip. Every setting is
-- transaction-local (is_local = true): it ends with the transaction, so a pooled connection
-- never carries one user's context to the next. See install.sql for what each setting means.
SELECT pg_catalog.set_config('chrononaut.user_id', $1, true),
       pg_catalog.set_config('chrononaut.remote_addr', $2, true),
       pg_catalog.set_config('chrononaut.extra', $3, true),
       pg_catalog.set_config('chrononaut.extra_auto', $4, true),
       pg_catalog.set_config('chrononaut.record_extra', $5, true),
       pg_catalog.set_config('chrononaut.suppress', $6, true),
       pg_catalog.set_config('chrononaut.allow_delete_history', $7, true)
