-- Reference design "minimal": the least a trigger-based history can do, and so the limit of
-- what any trigger design costs. One AFTER ROW trigger appends the row as `to_jsonb(NEW)`
-- (the last state, `to_jsonb(OLD)`, for a delete) to a history table of its own that has no
-- index, no key, no version, no context and no hidden or untracked columns.
-- {{table}}: the benchmark table; {{history}}: its history table; {{function}}: the trigger
-- function (all quoted identifiers).

CREATE TABLE {{history}} (data jsonb NOT NULL);

CREATE FUNCTION {{function}}() RETURNS trigger
LANGUAGE plpgsql
AS $bench$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO {{history}} (data) VALUES (to_jsonb(OLD));
    ELSE
        INSERT INTO {{history}} (data) VALUES (to_jsonb(NEW));
    END IF;
    RETURN NULL;
END $bench$;

CREATE TRIGGER bench_minimal_capture
    AFTER INSERT OR UPDATE OR DELETE ON {{table}}
    FOR EACH ROW EXECUTE FUNCTION {{function}}();
