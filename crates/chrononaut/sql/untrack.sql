-- Removes chrononaut's triggers and capture functions from one table. History, the version
-- column and the change_info/changed columns stay.
--   <table>                                 the table, schema-qualified and quoted
--   <fn_insert> <fn_update> <fn_delete> <fn_version>  its functions, qualified and quoted
DROP TRIGGER IF EXISTS zz_chrononaut_version ON {{table}};
DROP TRIGGER IF EXISTS zz_chrononaut_change_info ON {{table}};
DROP TRIGGER IF EXISTS chrononaut_capture_insert ON {{table}};
DROP TRIGGER IF EXISTS chrononaut_capture_update ON {{table}};
DROP TRIGGER IF EXISTS chrononaut_capture_delete ON {{table}};
DROP FUNCTION IF EXISTS {{fn_insert}}();
DROP FUNCTION IF EXISTS {{fn_update}}();
DROP FUNCTION IF EXISTS {{fn_delete}}();
DROP FUNCTION IF EXISTS {{fn_version}}();
