-- The context of the open transaction (its one row of chrononaut_context, sql/sqlite/install.sql),
-- for the user and extra info of a lock or unlock event. No row: no context.
SELECT user_info, extra_info FROM chrononaut_context WHERE id = 1
