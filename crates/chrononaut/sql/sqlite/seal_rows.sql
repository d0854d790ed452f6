-- The next batch of rows `seal` chains (src/backend/sqlite_seal.rs): history rows with no hash
-- and an id above ?1, in id order (the order the triggers wrote them; AUTOINCREMENT ids only
-- grow), at most ?2. A range of the primary key: a seal reads only what was written since the
-- last one.
--   ?1 the last id seen (first: chrononaut_meta 'sealed_through', 0 before any seal)
--   ?2 the batch size
-- prev_hash: the hash of the record's newest row before it by id, as it stands when the batch
-- is read: right for a row whose previous row was sealed by an earlier batch or seal; seal
-- takes the hash it just computed for a previous row in the same batch. One probe of the
-- Python index (key, table_name), whose entries end with the rowid (= id): the newest id
-- below r.id is one step back from where the probe lands. (The (table_name, key, changed,
-- version) index is not ordered by id: through it the probe would read and sort the record's
-- whole history, for every row sealed.)
SELECT r.id, r.table_name, r.key, r.version, r.changed, r.data, r.user_info, r.extra_info,
       r.operation,
       (SELECT a.hash FROM chrononaut_activity AS a
                           INDEXED BY ix_chrononaut_activity_key_table_name
        WHERE a.key = r.key AND a.table_name = r.table_name AND a.id < r.id
        ORDER BY a.id DESC LIMIT 1) AS prev_hash
FROM chrononaut_activity AS r
WHERE r.id > ?1 AND r.hash IS NULL
ORDER BY r.id
LIMIT ?2
