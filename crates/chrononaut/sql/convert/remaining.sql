-- How many records are left to convert after $1 (text form of the last converted id, NULL:
-- all of them): distinct ids of the current and legacy tables. For the progress display.
--   <table> <legacy> <id> <after_t> <after_h>  as in next_ids.sql
SELECT count(*)::int8 FROM (
    SELECT cn_t.{{id}} FROM {{table}} AS cn_t WHERE {{after_t}}
    UNION
    SELECT cn_h.{{id}} FROM {{legacy}} AS cn_h WHERE {{after_h}}
) AS cn
