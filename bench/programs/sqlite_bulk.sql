-- sqlite_bulk.sql -- bulk insert of ROWS rows, then two index builds and a
-- grouped query.  bench/run.py replaces ROWS and feeds this to sqlite3 with
-- a fresh database file.  The data is a deterministic function of the row
-- number, so every allocator does exactly the same work.  A large page cache keeps the work in memory, in
-- the allocator, rather than in the kernel's page cache.
PRAGMA journal_mode = OFF;
PRAGMA synchronous = OFF;
PRAGMA cache_size = -65536;
CREATE TABLE item(id INTEGER PRIMARY KEY, name TEXT, category INTEGER, price REAL);
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ROWS)
INSERT INTO item(name, category, price)
SELECT printf('%x-item-%d-%s', (i * 2654435761) % 1000003, i,
              substr('abcdefghijklmnopqrstuvwxyz0123', 1, 1 + (i * 7919) % 30)),
       (i * 40503) % 1000, ((i * 69069) % 100000) / 100.0
FROM n;
COMMIT;
CREATE INDEX item_name ON item(name);
CREATE INDEX item_category_price ON item(category, price);
SELECT count(*), count(DISTINCT category) FROM item;
SELECT category, count(*), round(avg(price), 2) FROM item GROUP BY category ORDER BY 2 DESC LIMIT 1;
