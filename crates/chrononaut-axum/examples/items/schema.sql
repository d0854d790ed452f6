-- The example service's one table, in a schema of its own (nothing outside it is touched).
-- Kept between runs against the same database: a service keeps its data, and its history
-- continues.
CREATE SCHEMA IF NOT EXISTS chrononaut_example;
CREATE TABLE IF NOT EXISTS chrononaut_example.items (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL CHECK (name <> ''),
    price_cents bigint NOT NULL DEFAULT 0 CHECK (price_cents >= 0)
);
