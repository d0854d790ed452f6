-- GET /items/{id}: the item as it is now.
SELECT id, name, price_cents, version FROM chrononaut_example.items WHERE id = $1
