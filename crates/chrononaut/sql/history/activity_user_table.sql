-- The user filter of activity_table.sql, at its <user_filter>: the application user of the
-- change context. Checked on the rows the index scan reaches (no index of its own: one would
-- cost every history write); a rare user reads the rows between their changes, bounded by
-- the statement timeout. Sent unprepared (planned for its values each time): a generic plan
-- of this filter sorts the table's whole history (see activity.rs).
AND user_info ->> 'user_id' = $8::text
