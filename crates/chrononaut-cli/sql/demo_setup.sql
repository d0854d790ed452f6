-- The demo's own schema and sample table. The table is re-created on every run, so the demo
-- can be run again (the schema stays: it may hold the activity table, whose history is
-- append-only); nothing outside the schema chrononaut_demo is touched.
CREATE SCHEMA IF NOT EXISTS chrononaut_demo;
DROP TABLE IF EXISTS chrononaut_demo.products;
CREATE TABLE chrononaut_demo.products (
    id         integer PRIMARY KEY,
    name       text NOT NULL,
    price      numeric(10, 2) NOT NULL,
    cost_price numeric(10, 2),           -- hidden: changes are noted, values never stored
    views      integer NOT NULL DEFAULT 0, -- untracked: changes create no version
    updated_at timestamptz NOT NULL DEFAULT now()
);
