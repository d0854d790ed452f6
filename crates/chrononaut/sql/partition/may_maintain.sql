-- Whether the current role may create partitions of the activity table (it owns it).
SELECT chrononaut.may_maintain_partitions()
