-- Whether one record ($1 table_name, $2 key) has a version recorded after $3.
--   <activity>  the activity table, schema-qualified and quoted
-- Versions only: rows of lock/unlock events (operation 'lock' / 'unlock', see
-- sql/locking/functions.sql) are not versions of the record and are skipped.
SELECT EXISTS (
    SELECT 1 FROM {{activity}}
    WHERE table_name = $1 AND key = $2 AND changed > $3
      AND (operation IS NULL OR operation IN ('insert', 'update', 'delete'))
)
