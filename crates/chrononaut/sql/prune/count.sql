-- A dry run's count of one partition's rows: the rows of the activity table in its range
-- [$1, $2) (read through the parent, whose privileges and policies apply).
--   <activity>  the activity table, schema-qualified and quoted
SELECT count(*) FROM {{activity}} AS a WHERE a.changed >= $1 AND a.changed < $2
