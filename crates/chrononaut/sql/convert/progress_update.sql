-- Records one converted chunk in the progress row of its table (same transaction as the rows).
--   $1 table_name, $2 new last id (text, NULL: unchanged), $3 objects, $4 rows,
--   $5 a full pass completed, $6 the pass found nothing left (sets finished_at),
--   $7 the --update-from time of an update pass (NULL: not an update)
-- Placeholder <id_type>: the SQL type of the id column, to keep the larger of two ids.
UPDATE chrononaut.conversions
SET last_id = CASE WHEN $2::text IS NULL THEN last_id
                   WHEN last_id IS NULL THEN $2::text
                   ELSE GREATEST(last_id::{{id_type}}, $2::text::{{id_type}})::text END,
    objects = objects + $3,
    rows = rows + $4,
    all_done = all_done OR $5,
    finished_at = CASE WHEN $6 THEN now() ELSE finished_at END,
    last_update_from = COALESCE($7, last_update_from),
    updated_at = now()
WHERE table_name = $1
