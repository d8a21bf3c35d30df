#!/bin/sh
# make bench-gc: the GC layer's three benchmarks, with ratios from one run.
#   run.sh BUILDDIR SRCDIR [N]
# 1. full collection of a 1M-object graph vs CPython's gc.collect() on the
#    same shape (Debian's /usr/bin/python3), per object;
# 2. automatic collections per allocated container, default thresholds,
#    vs CPython's on the same loop (bench_gen0.c, gen0.py);
# 3. pym_new+pym_decref vs pym_malloc+pym_free (overhead of the layer).
set -e
build=$1 src=$2 n=${3:-1000000}
python=/usr/bin/python3
echo "== GC benchmarks ($(uname -m), $(nproc) cpus, $($python -V 2>&1))"
ours=$("$build/bench/gc/bench_collect" "$n" 3)
echo "$ours"
theirs=$($python "$src/bench/gc/graph.py" "$n" 3)
echo "$theirs"
ns_ours=$(echo "$ours" | sed 's/.*, \([0-9.]*\) ns\/object.*/\1/')
ns_theirs=$(echo "$theirs" | sed 's/.*, \([0-9.]*\) ns\/object.*/\1/')
awk -v a="$ns_theirs" -v b="$ns_ours" 'BEGIN { printf "collect ratio: pymalloc_gc is %.1fx faster per object than CPython gc.collect() (target >= 5x)\n", a / b }'
ours=$("$build/bench/gc/bench_gen0")
echo "$ours"
theirs=$($python "$src/bench/gc/gen0.py")
echo "$theirs"
ns_ours=$(echo "$ours" | sed 's/.*, \([0-9.]*\) ns\/container.*/\1/')
ns_theirs=$(echo "$theirs" | sed 's/.*, \([0-9.]*\) ns\/container.*/\1/')
awk -v a="$ns_theirs" -v b="$ns_ours" 'BEGIN { printf "gen0 ratio: automatic collections cost %.2f of CPython'"'"'s per container (target <= 0.20)\n", b / a }'
"$build/bench/gc/bench_newdecref"
echo "(target: container new+decref under 2x malloc+free)"
