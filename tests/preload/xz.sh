#!/bin/bash
# xz.sh -- xz -T2 compresses generated data with two threads (512 KiB blocks)
# and decompresses it: the same compressed bytes and output under LD_PRELOAD.
. "${top_srcdir:?the harness exports top_srcdir}/tests/preload/common.sh"

xz_scenario() {
    set -e
    awk 'BEGIN { for (i = 0; i < 150000; i++) printf "%08x %s %d\n", (i * 2654435761) % 4294967296, substr("lorem ipsum dolor sit amet", i % 20 + 1, 6), i }' >data
    xz -T2 -3 --block-size=512KiB -k -c data >data.xz
    cksum <data.xz
    xz -T2 -d -c data.xz | cmp - data
    xz -l data.xz | tail -1
}
preload_test "xz -T2" xz xz_scenario
