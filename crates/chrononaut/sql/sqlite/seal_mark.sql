-- The mark after a seal: the highest id it chained (?1), or every row there is when it had
-- nothing to chain, so that a row without hash below the mark is known to have lost it.
INSERT INTO chrononaut_meta (key, value)
VALUES ('sealed_through',
        max(?1, (SELECT coalesce(max(id), 0) FROM chrononaut_activity)))
ON CONFLICT (key) DO UPDATE SET value = excluded.value
RETURNING CAST(value AS INTEGER)
