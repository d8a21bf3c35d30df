"""A small-object-heavy workload for the demo: dicts, lists, strings, JSON,
sorting.  Prints a deterministic result, then frees everything; with
PYMALLOC_STATS=1 pymalloc's statistics follow at exit."""
import json
import random

random.seed(2026)
records = [{"id": i, "name": "item-%d" % i, "tags": [i % 7, i % 11], "score": i * 0.5}
           for i in range(200_000)]
text = json.dumps(records)
decoded = json.loads(text)
words = ["".join(random.choice("abcdefgh") for _ in range(random.randint(1, 12)))
         for _ in range(100_000)]
unique = sorted(set(words))
counts = {}
for w in words:
    counts[w] = counts.get(w, 0) + 1
print("records:", len(decoded), "json bytes:", len(text))
print("words:", len(words), "unique:", len(unique), "most common:",
      max(counts.items(), key=lambda kv: (kv[1], kv[0])))
del records, decoded, text, words, unique, counts
