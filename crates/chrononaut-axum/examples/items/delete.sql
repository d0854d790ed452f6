-- DELETE /items/{id}: the capture trigger records a delete version with the last state.
DELETE FROM chrononaut_example.items WHERE id = $1
