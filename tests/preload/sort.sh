#!/bin/bash
# sort.sh -- GNU sort, with two threads and a small buffer (so it merges
# temporary files), on a generated file: the same output under LD_PRELOAD.
. "${top_srcdir:?the harness exports top_srcdir}/tests/preload/common.sh"

sort_scenario() {
    awk 'BEGIN { for (i = 0; i < 300000; i++) printf "%d %s%d\n", (i * 7919) % 100003, substr("zyxwvutsrq", i % 10 + 1, 4), i % 1000 }' >input.txt
    LC_ALL=C sort --parallel=2 -S 4M -T . -k2,2 -k1,1n input.txt | cksum
    LC_ALL=C sort -u -n input.txt | tail -3
}
preload_test sort sort sort_scenario
