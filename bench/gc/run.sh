#!/bin/sh
# make bench-gc: the GC layer's three benchmarks, with ratios from one run.
#   run.sh BUILDDIR SRCDIR [N] [ROUNDS]
# 1. full collection of a 1M-object graph vs CPython's gc.collect() on the
#    same shape (Debian's /usr/bin/python3), per object;
# 2. automatic collections per allocated container, default thresholds,
#    vs CPython's on the same loop (bench_gen0.c, gen0.py);
# 3. pym_new+pym_decref vs pym_malloc+pym_free (overhead of the layer).
# Each comparison runs ROUNDS times (default 3), ours and CPython's
# alternating, and the ratio is taken between the two medians: on a
# shared VM either side's figure moves by 1.5x from one minute to the
# next, and one run of each says more about the minute than about the
# collector.  Every round's figures are printed.
set -e
build=$1 src=$2 n=${3:-1000000} rounds=${4:-3}
python=/usr/bin/python3
# Both sides run pinned to the same CPU, the one of those this script may
# use that runs a fixed loop fastest now (bench/run.py's fastest_cpu): the
# vCPUs of a VM can differ by 1.7x, and an unpinned process stays on
# whichever it started on (bench/README.md).
pin=
if command -v taskset >/dev/null 2>&1; then
    cpu=$($python -c 'import os, sys; sys.path.insert(0, sys.argv[1]); import run; print(run.fastest_cpu(os.sched_getaffinity(0)))' "$src/bench" 2>/dev/null)
    [ -n "$cpu" ] && pin="taskset -c $cpu"
fi
echo "== GC benchmarks ($(uname -m), $(nproc) cpus${pin:+, pinned to cpu $cpu}, $($python -V 2>&1)), $rounds rounds each"

# The number before $2 (a unit such as "ns/object") in a benchmark's line.
figure() {
    echo "$1" | sed "s|.*, \([0-9.]*\) $2.*|\1|"
}

median() {
    tr ' ' '\n' | grep . | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}

# One run of benchmark $1 (collect or gen0): ours, or CPython's.
run_ours() {
    case $1 in
    collect) $pin "$build/bench/gc/bench_collect" "$n" 3 ;;
    gen0) $pin "$build/bench/gc/bench_gen0" ;;
    esac
}
run_theirs() {
    case $1 in
    collect) $pin $python "$src/bench/gc/graph.py" "$n" 3 ;;
    gen0) $pin $python "$src/bench/gc/gen0.py" ;;
    esac
}

# Runs benchmark $1 $rounds times, ours and CPython's alternating, printing
# every line; sets ours and theirs to the medians of their figures in unit $2.
compare() {
    ours_all= theirs_all=
    for r in $(seq "$rounds"); do
        line_ours=$(run_ours "$1")
        line_theirs=$(run_theirs "$1")
        echo "$line_ours"
        echo "$line_theirs"
        ours_all="$ours_all $(figure "$line_ours" "$2")"
        theirs_all="$theirs_all $(figure "$line_theirs" "$2")"
    done
    ours=$(echo "$ours_all" | median) theirs=$(echo "$theirs_all" | median)
}

compare collect ns/object
awk -v a="$theirs" -v b="$ours" 'BEGIN { printf "collect ratio: pymalloc_gc is %.1fx faster per object than CPython gc.collect() (medians %.2f and %.2f ns/object; target >= 5x)\n", a / b, b, a }'

compare gen0 ns/container
awk -v a="$theirs" -v b="$ours" 'BEGIN { printf "gen0 ratio: automatic collections cost %.2f of CPython'"'"'s per container (medians %.2f and %.2f ns; target <= 0.20)\n", b / a, b, a }'

# The container's ratio to malloc+free ("container T ns (R x)") in the
# "new+decref $2" line of bench_newdecref's output $1.
container_ratio() {
    echo "$1" | grep "new+decref $2" | sed 's|.*container [0-9.]* ns (\([0-9.]*\)x).*|\1|'
}

pair_all= batch_all=
for r in $(seq "$rounds"); do
    out=$($pin "$build/bench/gc/bench_newdecref")
    echo "$out"
    pair_all="$pair_all $(container_ratio "$out" pair)"
    batch_all="$batch_all $(container_ratio "$out" batch)"
done
echo "new+decref ratio: container new+decref costs $(echo "$pair_all" | median)x malloc+free one at a time, $(echo "$batch_all" | median)x 1 000 at a time (medians; target <= 2x)"
