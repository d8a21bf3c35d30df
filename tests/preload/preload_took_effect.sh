#!/bin/bash
# preload_took_effect.sh -- LD_PRELOAD=$PYM_LIB really replaces malloc: a
# program linked against nothing of ours (preload_check) finds pym_owns and
# sees its malloc'd blocks owned when preloaded, and finds no pym_owns
# otherwise.  Also: PYMALLOC_STATS=1 makes the preloaded library report.
. "${top_srcdir:?the harness exports top_srcdir}/tests/preload/common.sh"

check_program="$top_builddir/tests/preload/preload_check"
echo "1..3"
"$check_program" >/dev/null
[ $? = 1 ]
tap_check $? "without the preload, malloc is glibc's (and pym_owns is absent)"
output=$(LD_PRELOAD="$PYM_LIB" "$check_program")
status=$?
tap_check $status "with LD_PRELOAD, malloc, calloc, realloc and strdup blocks are pymalloc's"
[ "$status" = 0 ] || echo "# preload_check printed: $output"
LD_PRELOAD="$PYM_LIB" PYMALLOC_STATS=1 "$check_program" 2>"$scratch/stats" >/dev/null
grep -qi "pymalloc\|arena\|pool" "$scratch/stats"
tap_check $? "PYMALLOC_STATS=1 prints statistics at exit"
exit $tap_failed
