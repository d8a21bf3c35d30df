#!/bin/bash
# sqlite3.sh -- sqlite3 creates a table, inserts 20k rows in one transaction,
# builds an index and runs aggregate queries: the same output under LD_PRELOAD.
. "${top_srcdir:?the harness exports top_srcdir}/tests/preload/common.sh"

sqlite_scenario() {
    sqlite3 test.db <<'SQL'
CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT, grp INTEGER, price REAL);
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
INSERT INTO items(name, grp, price)
  SELECT printf('item-%05d-%s', i, substr('abcdefghij', i % 10 + 1, 3)), i % 97, (i * 37 % 1000) / 10.0
  FROM n;
COMMIT;
CREATE INDEX items_grp ON items(grp, price);
SELECT count(*), sum(price), min(name), max(name) FROM items;
SELECT grp, count(*), round(avg(price), 3), group_concat(substr(name, 6, 2), '') FROM items
  WHERE grp < 10 GROUP BY grp ORDER BY grp;
SELECT name FROM items WHERE grp = 42 AND price > 50 ORDER BY price DESC, name LIMIT 5;
PRAGMA integrity_check;
SQL
}
preload_test sqlite3 sqlite3 sqlite_scenario
