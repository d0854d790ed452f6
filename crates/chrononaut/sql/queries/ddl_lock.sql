-- Serialises chrononaut's DDL in this database (install, track, untrack, the strict default,
-- the conversion progress table) until the transaction ends.
--
-- A table lock on chrononaut.meta in SHARE ROW EXCLUSIVE mode: it conflicts with itself, so
-- two of these wait for each other, but not with ACCESS SHARE, the only mode a role with
-- nothing but SELECT on chrononaut.meta can take (every library call reads meta). Any other
-- mode needs INSERT, UPDATE, DELETE or TRUNCATE on meta, which only chrononaut's owner has:
-- no application role can hold this against us. (An advisory lock, used before, can be
-- taken and held by any role: `SELECT pg_advisory_lock(...)` needs no privilege.)
LOCK TABLE chrononaut.meta IN SHARE ROW EXCLUSIVE MODE;
