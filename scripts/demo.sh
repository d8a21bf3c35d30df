#!/usr/bin/env bash
# The main job: install what the build needs, build pymalloc, then run a real
# program -- Debian's python3, its objects allocated through malloc
# (PYTHONMALLOC=malloc) -- with the library preloaded, and print what
# pymalloc did (PYMALLOC_STATS=1: CPython's _debugmallocstats layout).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/install-deps.sh"
"$top/scripts/build.sh" "$top/build"
lib="$top/build/.libs/libpymalloc.so"
echo "== python3 under LD_PRELOAD=$lib"
LD_PRELOAD="$lib" PYTHONMALLOC=malloc PYMALLOC_STATS=1 /usr/bin/python3 "$top/examples/small_objects.py"
echo
"$top/scripts/where.sh" "$top/build"
