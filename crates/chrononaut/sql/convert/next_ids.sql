-- The next chunk: the first $2 record ids after $1 (text form of the last converted id; the
-- first chunk has no lower bound), taken from the current table and the legacy history table
-- together, so records that were deleted (legacy rows only) are converted too. Each branch
-- reads its table's index on the id column in order and stops early.
--   <table> <legacy>  the tables, qualified and quoted;  <id>  the id column, quoted
--   <after_t> <after_h>  `cn_t.<id> > $1::text::<type>` or, for the first chunk, `$1::text IS NULL`
SELECT count(*)::int8 AS objects, max(cn.id)::text AS last_id, min(cn.id)::text AS first_id
FROM (
    SELECT cn.id FROM (
        (SELECT cn_t.{{id}} AS id FROM {{table}} AS cn_t
         WHERE {{after_t}} ORDER BY 1 LIMIT $2)
        UNION
        (SELECT DISTINCT cn_h.{{id}} AS id FROM {{legacy}} AS cn_h
         WHERE {{after_h}} ORDER BY 1 LIMIT $2)
    ) AS cn
    WHERE cn.id IS NOT NULL
    ORDER BY 1
    LIMIT $2
) AS cn
