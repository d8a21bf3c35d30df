# rules for bench (owned by the people working there)
