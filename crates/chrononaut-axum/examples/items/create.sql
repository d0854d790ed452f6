-- POST /items: a new item ($1 name, $2 price in cents); the capture trigger records version 0.
INSERT INTO chrononaut_example.items (name, price_cents)
VALUES ($1, $2)
RETURNING id, name, price_cents, version
