-- The partitions that converting the activity table would make (`init --partition ...
-- --dry-run`): one row per period that holds rows, plus the current period and the periods
-- ahead, with the rows each would take. Reads the table once; takes no lock but ACCESS SHARE.
-- Computed here without the partition functions (an older install may not have them yet),
-- with the same UTC arithmetic as partition/functions.sql.
--   <activity>  the activity table, qualified and quoted
--   $1  date_trunc's unit: 'month', 'week' or 'day';  $2  the period: '1 month', '7 days' or
--   '1 day';  $3  periods ahead
WITH used AS (
    SELECT date_trunc($1, a.changed AT TIME ZONE 'UTC') AS s, count(*) AS n
    FROM {{activity}} AS a
    WHERE isfinite(a.changed)
    GROUP BY 1
), upcoming AS (
    SELECT date_trunc($1, now() AT TIME ZONE 'UTC') + k * $2::interval AS s, 0::int8 AS n
    FROM generate_series(0, $3) AS k
)
SELECT (p.s AT TIME ZONE 'UTC') AS range_start,
       ((p.s + $2::interval) AT TIME ZONE 'UTC') AS range_end,
       max(p.n)::int8 AS rows
FROM (SELECT s, n FROM used UNION ALL SELECT s, n FROM upcoming) AS p
GROUP BY p.s
ORDER BY p.s
