-- The history rows of deleted records: their last state, as version + 1 (NULL, never
-- versioned, -> 1), chained to the record's previous row. Spliced into the delete capture of
-- capture.sql twice: reading the DELETE's transition table, and reading the table itself
-- just before a TRUNCATE empties it.
--   <source>  chrononaut_old, or the tracked table (quoted)
--   the other placeholders: as in capture.sql
INSERT INTO {{activity}} (table_name, changed, version, key, data, user_info, extra_info, operation,
                          prev_hash, hash)
SELECT {{s}}.table_name, {{s}}.changed, {{s}}.version, {{s}}.key, {{s}}.data, {{s}}.user_info,
       {{s}}.extra_info, {{s}}.operation, {{h}}.hash,
       chrononaut.chain_hash({{h}}.hash, {{s}}.table_name, {{s}}.key, {{s}}.version, {{s}}.changed,
                             {{s}}.data, {{s}}.user_info, {{s}}.extra_info, {{s}}.operation)
FROM (
    SELECT {{table_name}}::text AS table_name, {{ts}} AS changed,
           COALESCE({{o}}.version, 0) + 1 AS version, {{key_o}} AS key,
           {{data_o}} || jsonb_build_object('version', COALESCE({{o}}.version, 0) + 1) AS data,
           {{ctx}}.user_info AS user_info,
           {{ctx}}.extra_info
               || CASE WHEN {{rec}} IS NULL THEN '{}'::jsonb
                       ELSE chrononaut.record_extra({{rec}}, {{key_o}}) END AS extra_info,
           'delete'::text AS operation
    FROM {{source}} AS {{o}}
    OFFSET 0
) AS {{s}}
LEFT JOIN LATERAL (
    SELECT a.hash FROM {{activity}} AS a
    WHERE a.table_name = {{table_name}} AND a.key = {{s}}.key
    ORDER BY a.changed DESC, a.version DESC LIMIT 1
) AS {{h}} ON true;
