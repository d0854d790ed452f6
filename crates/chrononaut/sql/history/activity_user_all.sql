-- The user filter of activity_all.sql, at its <user_filter> (inside each table's probe), as
-- activity_user_table.sql. Sent unprepared (planned for its values each time): a generic
-- plan of this filter sorts every table's whole history (see activity.rs).
AND a.user_info ->> 'user_id' = $7::text
