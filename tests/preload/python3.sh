#!/bin/bash
# python3.sh -- Debian's python3 running a small-object-heavy script (dicts,
# tuples, strings, sets, json round trips) gives the same output under
# LD_PRELOAD.  The script prints a digest and counts, so outputs are
# deterministic (hash randomisation off).
. "${top_srcdir:?the harness exports top_srcdir}/tests/preload/common.sh"

python_scenario() {
    PYTHONHASHSEED=0 /usr/bin/python3 - <<'PY'
import hashlib, json
records = []
for i in range(120000):
    key = "k%06d" % (i * 7919 % 120000)
    records.append({"key": key, "n": i, "tags": (i % 7, i % 11, str(i % 13)),
                    "words": [key[j:j + 3] for j in range(0, 7, 2)]})
index = {r["key"]: r for r in records}
groups = {}
for r in records:
    groups.setdefault(r["tags"][0], set()).add(r["key"][-3:])
text = json.dumps(sorted(records, key=lambda r: r["key"])[:5000], sort_keys=True)
back = json.loads(text)
digest = hashlib.sha256(text.encode()).hexdigest()
print(len(index), sorted((k, len(v)) for k, v in groups.items()), len(back), digest)
PY
}
preload_test python3 /usr/bin/python3 python_scenario
