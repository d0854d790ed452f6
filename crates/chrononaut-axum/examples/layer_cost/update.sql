-- The one tracked write of each benchmark request (both variants run exactly this).
UPDATE layer_cost_items SET n = n + 1 WHERE id = $1
