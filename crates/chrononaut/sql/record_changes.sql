-- The change_info / changed trigger of a table tracked with --record-changes (Python's
-- RecordChanges mixin). Named to fire after the user's own BEFORE triggers.
--   <table>  the tracked table, schema-qualified and quoted
CREATE TRIGGER zz_chrononaut_change_info
    BEFORE INSERT OR UPDATE ON {{table}}
    FOR EACH ROW EXECUTE FUNCTION chrononaut.record_change_info();
