-- PATCH /items/{id}: changes the fields given ($2 name, $3 price; NULL keeps the value).
-- $4, when given, is the version the client read: PostgreSQL refuses the update with CN005
-- when the item has moved on (optimistic concurrency); NULL leaves version alone.
UPDATE chrononaut_example.items
SET name        = COALESCE($2, name),
    price_cents = COALESCE($3, price_cents),
    version     = COALESCE($4, version)
WHERE id = $1
RETURNING id, name, price_cents, version
