-- One benchmark table. Every variant gets the same layout, including the `version integer
-- DEFAULT 0` column that `track` adds (added here beforehand, so `track` finds it and the
-- untracked and reference tables carry the same row width).
-- {{table}}: the table (quoted identifier).
CREATE TABLE {{table}} (
    id      bigint PRIMARY KEY,
    name    text NOT NULL,
    email   text NOT NULL,
    note    text,
    n       integer NOT NULL,
    updated timestamptz NOT NULL DEFAULT now(),
    secret  text,
    seen    integer NOT NULL DEFAULT 0,
    version integer DEFAULT 0
);
