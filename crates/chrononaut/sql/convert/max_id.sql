-- The largest record id of the current and legacy tables (text form), recorded as the last
-- converted id after a full pass so that a later chunked run has nothing left to do.
--   <table> <legacy> <id>  as in next_ids.sql
SELECT GREATEST((SELECT max(cn_t.{{id}}) FROM {{table}} AS cn_t),
                (SELECT max(cn_h.{{id}}) FROM {{legacy}} AS cn_h))::text
