# rules for tests/unit (owned by the people working there)
