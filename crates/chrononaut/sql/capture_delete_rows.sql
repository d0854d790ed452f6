-- The history rows of deleted records: their last state, as version + 1 (NULL, never
-- versioned, -> 1), chained to the record's previous row (one probe per row: of the history
-- index, or of chrononaut.heads on a partitioned activity table), then the strict-mode check.
-- Spliced into the capture functions of capture.sql three times: reading the DELETE's transition table, the table itself just before a TRUNCATE empties
-- it, and the old rows of an UPDATE whose primary key vanished.
--   <source>  chrononaut_old, the tracked table (quoted), or a subquery of chrononaut_old
--   the other placeholders: as in capture.sql
WITH {{s}} AS MATERIALIZED (
    SELECT COALESCE({{o}}.version, 0) + 1 AS version, {{key_o}} AS key, {{data_o_v}} AS data,
           {{rx_o}} AS rx, {{extra_delete}} AS extra_info
    FROM {{source}} AS {{o}}
), {{w}} AS (
    INSERT INTO {{activity}} (table_name, changed, version, key, data, user_info, extra_info,
                              operation, prev_hash, hash)
    SELECT {{table_name}}, {{ts}}, {{s}}.version, {{s}}.key, {{s}}.data, {{ctx}}.user_info,
           {{s}}.extra_info, 'delete', {{chain_delete}}
    FROM {{s}}
    {{chain_probe}}
    {{heads_write}}
)
SELECT count(*) FILTER (WHERE {{s}}.rx = '{}') AS bare INTO {{cnt}} FROM {{s}};
IF {{strict}} AND NOT {{ctx}}.has_extra AND {{cnt}}.bare > 0 THEN
    PERFORM chrononaut.refuse_strict({{table_name}});
END IF;
