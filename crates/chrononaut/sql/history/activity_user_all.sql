-- The user filter of activity_all.sql, at its <user_filter> (inside each table's probe), as
-- activity_user_table.sql.
AND a.user_info ->> 'user_id' = $7::text
