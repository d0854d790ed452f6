-- A range-partitioned activity table (`chrononaut init --partition monthly|weekly|daily`,
-- `InstallOptions::partition`). Run on a fresh install only, after install_start.sql and the
-- DDL lock and before install.sql, in the same transaction: install.sql's
-- `CREATE TABLE IF NOT EXISTS` then finds this table and adds to it what it adds to any
-- activity table (indexes, grants, the append-only trigger; visibility.sql the policies).
--
-- Placeholders:
--   <activity_schema>  quoted schema of the activity table
--   <partition>        the granularity as a literal: 'monthly', 'weekly' or 'daily'
--   <partition_ahead>  how many periods after the current one to keep created (an integer
--                      literal, as text)
--
-- The same columns, names, types and defaults as the unpartitioned table (install.sql, the
-- Python library's eight columns plus `operation`), in the same order, so that Python readers
-- and writers see no difference. Two differences only:
--   * the primary key is (id, changed): PostgreSQL requires the partition key in every unique
--     constraint of a partitioned table. `id` still comes from the one bigserial sequence of
--     the parent, so ids stay unique as long as nobody inserts ids of their own (nobody but
--     the owner may write the table at all); PostgreSQL itself no longer checks id alone.
--   * it is partitioned by range on `changed`, one partition per UTC month, ISO week (from
--     Monday 00:00 UTC) or UTC day, plus a DEFAULT partition that takes every row no other
--     partition takes (far past, far future, a period whose partition does not exist yet), so
--     that no write ever fails for lack of a partition. chrononaut.maintain_partitions()
--     (partition/functions.sql, run at the end of this install) creates the partitions.
CREATE SCHEMA IF NOT EXISTS {{activity_schema}};
CREATE TABLE IF NOT EXISTS {{activity_schema}}.chrononaut_activity (
    id         bigserial   NOT NULL,
    table_name text        NOT NULL,
    changed    timestamptz NOT NULL,
    version    integer     NOT NULL DEFAULT 0,
    key        jsonb       NOT NULL DEFAULT '{}',
    data       jsonb       NOT NULL DEFAULT '{}',
    user_info  jsonb       NOT NULL DEFAULT '{}',
    extra_info jsonb       NOT NULL DEFAULT '{}',
    operation  text,
    PRIMARY KEY (id, changed)
) PARTITION BY RANGE (changed);

-- The granularity and how far ahead to keep partitions, read by maintain_partitions().
INSERT INTO chrononaut.meta (key, value) VALUES ('partition', {{partition}})
    ON CONFLICT (key) DO NOTHING;
INSERT INTO chrononaut.meta (key, value) VALUES ('partition_ahead', {{partition_ahead}})
    ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value;
