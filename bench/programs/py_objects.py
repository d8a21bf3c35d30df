"""py_objects.py -- a Python workload dominated by small-object allocation.

Run under each allocator by bench/run.py as
    /usr/bin/python3 py_objects.py SCALE
bench/run.py runs it twice per allocator:
  python3-objects (PYTHONMALLOC=malloc)  every Python object, small or
      large, comes from malloc, i.e. from the allocator under test: this
      is the row that measures pymalloc serving Python's objects;
  python3-objects (obmalloc)  CPython's default: its built-in obmalloc
      serves objects of <= 512 bytes and only larger buffers (list/dict/set
      resizes, long str, the JSON buffers) reach malloc.  The glibc cell
      of this row is python3 exactly as shipped.  Each
phase exercises one kind of churn: dicts of small objects, lists and sorts,
string building and splitting, a JSON round trip.  The printed checksum
lets the runner see that the program behaved identically everywhere.
"""
import json
import random
import sys


def dict_churn(n, rng):
    records = {}
    for i in range(n):
        records[f"key{i}"] = {"id": i, "name": "x" * rng.randrange(1, 40),
                              "tags": [rng.randrange(100) for _ in range(rng.randrange(1, 6))]}
        if i % 3 == 0:
            records.pop(f"key{rng.randrange(i + 1)}", None)
    return sum(len(r["tags"]) for r in records.values())


def list_sort(n, rng):
    rows = [(rng.random(), str(rng.randrange(10**6)), [i] * (i % 7)) for i in range(n)]
    rows.sort(key=lambda r: r[1])
    rows.sort()
    return len(rows[0][2]) + len(rows)


def string_build(n, rng):
    words = ["".join(chr(97 + rng.randrange(26)) for _ in range(rng.randrange(2, 12)))
             for _ in range(1000)]
    total = 0
    for i in range(n // 100):
        line = " ".join(words[rng.randrange(1000)] for _ in range(100))
        parts = line.upper().split(" ")
        total += len(parts) + len(line.replace("A", "aa"))
    return total


def json_roundtrip(n, rng):
    doc = [{"n": i, "s": str(i) * (i % 9), "f": rng.random(), "l": list(range(i % 13))}
           for i in range(n // 4)]
    text = json.dumps(doc)
    back = json.loads(text)
    return len(text) + len(back)


def main():
    scale = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
    rng = random.Random(12345)
    checksum = 0
    for phase in (dict_churn, list_sort, string_build, json_roundtrip):
        checksum += phase(scale, rng)
    print(f"py_objects checksum {checksum}")


if __name__ == "__main__":
    main()
