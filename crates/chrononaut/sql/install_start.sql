-- The start of the install (run first, before install.sql, in the same transaction): the
-- chrononaut schema and its meta table, which must exist before the lock that serialises
-- chrononaut's DDL can be taken on it (sql/queries/ddl_lock.sql follows this file).
--
-- Two first installs at the same moment: the second one's CREATE waits for the first one's
-- transaction and then fails on the catalog's unique index; `Chrononaut::install` retries it,
-- and the retry finds meta and waits on the lock.
CREATE SCHEMA IF NOT EXISTS chrononaut;

-- Key/value settings of this installation: schema_version, activity_schema, strict_default.
CREATE TABLE IF NOT EXISTS chrononaut.meta (
    key   text PRIMARY KEY,
    value text NOT NULL
);
