-- Progress of legacy conversions (`chrononaut convert`), one row per converted table.
--
-- Created by the converter itself (idempotent, under chrononaut's advisory lock) the first time
-- a conversion writes anything, so installs that never convert do not get it. Each chunk locks
-- its table's row (SELECT ... FOR UPDATE) and updates it in the same transaction as the history
-- rows it writes: a crash loses at most the chunk in flight, and the next run continues after
-- the last committed chunk. Two converters of the same table take turns.
CREATE TABLE IF NOT EXISTS chrononaut.conversions (
    table_name       text PRIMARY KEY,          -- the `table_name` of the converted history
    legacy_table     text        NOT NULL,      -- the legacy history table, schema-qualified
    id_column        text        NOT NULL,      -- the column that orders and chunks records
    last_id          text,                      -- last converted id (text form); NULL: none yet
    objects          bigint      NOT NULL DEFAULT 0,  -- records converted so far
    rows             bigint      NOT NULL DEFAULT 0,  -- history rows written so far
    all_done         boolean     NOT NULL DEFAULT false, -- a full pass (`--all`) completed
    started_at       timestamptz NOT NULL DEFAULT now(), -- first chunk: the time to update from
    finished_at      timestamptz,               -- when a pass found nothing left to convert
    last_update_from timestamptz,               -- the `--update-from` time of the last update
    updated_at       timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT ON chrononaut.conversions TO PUBLIC;
