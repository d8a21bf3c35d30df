# rules for tests (owned by the people working there)
