-- Every record of a table as it was at $2: per key, the latest version recorded at or before
-- $2, unless that version is a deletion. Keys whose first version is later are absent.
--   <activity>  the activity table, schema-qualified and quoted
--   $1 table_name, $2 the time
-- Reads the table's history rows up to $2 in one backward scan of
-- ix_chrononaut_activity_table_key_changed (key DESC, changed DESC, version DESC: the order
-- DISTINCT ON needs; only `id` is sorted, within equal (key, changed, version)).
-- History written by the Python library has no `operation`: its deletions cannot be told
-- apart, and such deleted records show with their last state.
-- Versions only: rows of lock/unlock events (operation 'lock' / 'unlock', see
-- sql/locking/functions.sql) are not versions of the record and are skipped.
SELECT h.key, h.version, h.changed, h.data
FROM (
    SELECT DISTINCT ON (a.key) a.key, a.version, a.changed, a.data, a.operation
    FROM {{activity}} AS a
    WHERE a.table_name = $1 AND a.changed <= $2
      AND (a.operation IS NULL OR a.operation IN ('insert', 'update', 'delete'))
    ORDER BY a.key DESC, a.changed DESC, a.version DESC, a.id DESC
) AS h
WHERE h.operation IS DISTINCT FROM 'delete'
