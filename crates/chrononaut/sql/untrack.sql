-- Removes chrononaut's triggers and capture functions from one table. History, the version
-- column and the change_info/changed columns stay.
--   <table>                                 the table, schema-qualified and quoted
--   <fn_insert> <fn_update> <fn_delete> <fn_version>  its functions, qualified and quoted
DROP TRIGGER IF EXISTS zz_chrononaut_version ON {{table}};
DROP TRIGGER IF EXISTS zz_chrononaut_change_info ON {{table}};
DROP TRIGGER IF EXISTS chrononaut_capture_insert ON {{table}};
DROP TRIGGER IF EXISTS chrononaut_capture_update ON {{table}};
DROP TRIGGER IF EXISTS chrononaut_capture_delete ON {{table}};
DROP TRIGGER IF EXISTS chrononaut_capture_truncate ON {{table}};
DROP FUNCTION IF EXISTS {{fn_insert}}();
DROP FUNCTION IF EXISTS {{fn_update}}();
DROP FUNCTION IF EXISTS {{fn_delete}}();
DROP FUNCTION IF EXISTS {{fn_version}}();
-- Record locks: the triggers (present while the table has locks) and the functions.
--   <fn_key> <fn_lock_check> <fn_lock_triggers>
DROP TRIGGER IF EXISTS chrononaut_lock_check ON {{table}};
DROP TRIGGER IF EXISTS chrononaut_lock_statement ON {{table}};
DROP FUNCTION IF EXISTS {{fn_lock_triggers}}(boolean);  -- made by earlier versions
DROP FUNCTION IF EXISTS {{fn_lock_triggers}}(boolean, boolean);
DROP FUNCTION IF EXISTS {{fn_lock_check}}();
DROP FUNCTION IF EXISTS {{fn_key}}({{table}});
