-- `untrack` on SQLite: forgets a table's tracking (?1 its table_name); the history stays.
DELETE FROM chrononaut_tracked WHERE table_name = ?1
