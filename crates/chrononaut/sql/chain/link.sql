-- The prev_hash and hash of a history row written by a capture function (src/capture.rs
-- splices this into every capture INSERT of a chained table; --no-chain tables get
-- `NULL, NULL`). hash = sha256 over prev_hash and the row's canonical content
-- (chrononaut.chain_hash in install.sql); verify recomputes it.
--   <prev>     the record's previous hash (from chain/probe.sql, or the insert's own probe)
--   <changed>  the row's time     <op> 'insert' / 'update' / 'delete'
--   the other placeholders: as in capture.sql
{{prev}}, chrononaut.chain_hash({{prev}}, {{table_name}}, {{s}}.key, {{s}}.version, {{changed}},
                               {{s}}.data, {{ctx}}.user_info, {{s}}.extra_info, {{op}})
