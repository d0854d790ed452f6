-- Rows of the activity table to convert, their time span, and the rows with an infinite
-- `changed` (they go to the DEFAULT partition).
--   <activity>  the activity table, qualified and quoted
SELECT count(*)::int8 AS rows,
       min(a.changed) FILTER (WHERE isfinite(a.changed)) AS oldest,
       max(a.changed) FILTER (WHERE isfinite(a.changed)) AS newest,
       count(*) FILTER (WHERE NOT isfinite(a.changed))::int8 AS infinite
FROM {{activity}} AS a
