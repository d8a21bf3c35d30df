# rules for src/gc (owned by the people working there)
