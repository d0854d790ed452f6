-- Whether every transaction that was in progress when a digest took its snapshot ($1, the
-- text of pg_current_snapshot()) and may have written history with an id below the digest's
-- cut-off has ended: until then such a transaction could still commit rows the digest must
-- cover.
-- Snapshots are cluster-wide, so transactions of other databases are among them; those that
-- pg_stat_activity shows connected to another database cannot write this database's history
-- and are not waited for (a long transaction elsewhere on the server must not stall a
-- digest). A transaction whose database is not visible to the caller (another user's session,
-- without pg_read_all_stats) is waited for.
SELECT NOT EXISTS (
    SELECT 1
    FROM pg_catalog.pg_snapshot_xip($1::text::pg_catalog.pg_snapshot) AS x(id)
    WHERE pg_catalog.pg_xact_status(x.id) = 'in progress'
      AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity AS a
                      WHERE a.backend_xid = pg_catalog.xid(x.id)
                        AND a.datname IS DISTINCT FROM pg_catalog.current_database()))
