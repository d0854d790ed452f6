-- The user filter of activity_table.sql, at its <user_filter>: the application user of the
-- change context. Checked on the rows the index scan reaches (no index of its own: one would
-- cost every history write); a rare user reads the rows between their changes, bounded by
-- the statement timeout.
AND user_info ->> 'user_id' = $8::text
