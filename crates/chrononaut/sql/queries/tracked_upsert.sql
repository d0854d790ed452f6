-- Records a tracked table's options and what its capture DDL was made from:
--   $1 oid, $2 hidden, $3 untracked, $4 record_changes, $5 strict, $6 fn_suffix (the oid the
--   functions are named after), $7 the columns known to the DDL, $8 the history table_name,
--   $9 the fingerprint of the generated DDL (install regenerates when it would differ),
--   $10 no_chain (no hash chain written), $11 keep_days (retention; NULL: forever).
INSERT INTO chrononaut.tracked (relid, hidden, untracked, record_changes, strict, fn_suffix, columns,
                                history_name, ddl_fingerprint, no_chain, keep_days)
VALUES ($1::int8::oid, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::int4)
ON CONFLICT (relid) DO UPDATE SET hidden = EXCLUDED.hidden, untracked = EXCLUDED.untracked,
    record_changes = EXCLUDED.record_changes, strict = EXCLUDED.strict,
    fn_suffix = EXCLUDED.fn_suffix, columns = EXCLUDED.columns,
    history_name = EXCLUDED.history_name, ddl_fingerprint = EXCLUDED.ddl_fingerprint,
    no_chain = EXCLUDED.no_chain, keep_days = EXCLUDED.keep_days
