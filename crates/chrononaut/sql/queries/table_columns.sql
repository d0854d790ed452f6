-- The columns of table $1 (oid) in order, with what the trigger generator needs to know:
--   comparable:  the type (after unwrapping domains and arrays) has an `=` that hash or merge
--                joins can use, so OLD/NEW can be compared directly; otherwise the generated
--                code compares the text forms (json, xml, point, composite types, ...).
--   naive_ts:    `timestamp without time zone`: written to history as UTC (+00:00), as the
--                Python library does.
--   generated:   a generated column (NULL in BEFORE triggers, so never compared there).
--   tstz:        `timestamp with time zone` (or a domain over it): rendered as UTC text.
--   zoned:       the JSON form depends on the session TimeZone (timestamptz, timetz, or a
--                composite that may hold one): the capture functions then run in UTC.
WITH cols AS (
    SELECT a.attnum, a.attname, a.atttypid, a.attgenerated,
           COALESCE(NULLIF(t.typbasetype, 0), t.oid) AS base
    FROM pg_catalog.pg_attribute a
    JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
    WHERE a.attrelid = $1::int8::oid AND a.attnum > 0 AND NOT a.attisdropped
), resolved AS (
    SELECT c.*, bt.typtype, bt.typcategory,
           CASE WHEN bt.typcategory = 'A' THEN bt.typelem ELSE c.base END AS scalar
    FROM cols c
    JOIN pg_catalog.pg_type bt ON bt.oid = c.base
), described AS (
    SELECT r.*, st.typtype AS scalar_typtype,
           CASE st.typtype WHEN 'e' THEN 'anyenum'::regtype::oid
                           WHEN 'r' THEN 'anyrange'::regtype::oid
                           WHEN 'm' THEN 'anymultirange'::regtype::oid
                           ELSE r.scalar END AS eq_type
    FROM resolved r
    JOIN pg_catalog.pg_type st ON st.oid = r.scalar
)
SELECT d.attname::text AS name,
       pg_catalog.format_type(d.atttypid, NULL) AS type_name,
       (d.scalar_typtype <> 'c' AND EXISTS (
            SELECT 1 FROM pg_catalog.pg_operator o
            WHERE o.oprname = '=' AND o.oprleft = d.eq_type AND o.oprright = d.eq_type
              AND (o.oprcanhash OR o.oprcanmerge))) AS comparable,
       d.base = 'timestamp'::regtype::oid AS naive_ts,
       d.base = 'timestamptz'::regtype::oid AS tstz,
       d.attgenerated <> '' AS generated,
       (d.scalar IN ('timestamptz'::regtype::oid, 'timetz'::regtype::oid)
            OR d.scalar_typtype = 'c') AS zoned
FROM described d
ORDER BY d.attnum
