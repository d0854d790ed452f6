-- The benchmark's table: 1000 rows, tracked after this runs. Requests update rows in turn,
-- so concurrent requests seldom wait for the same row lock.
DROP TABLE IF EXISTS layer_cost_items;
CREATE TABLE layer_cost_items (
    id   bigint PRIMARY KEY,
    name text NOT NULL,
    n    bigint NOT NULL DEFAULT 0
);
INSERT INTO layer_cost_items (id, name) SELECT g, 'item ' || g FROM generate_series(1, 1000) g;
