-- The highest history id sealed so far (no row: nothing sealed yet).
SELECT value FROM chrononaut_meta WHERE key = 'sealed_through'
