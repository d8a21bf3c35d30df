#!/bin/sh
# align_vs_glibc.sh -- memalign, aligned_alloc and posix_memalign answer as
# the installed glibc does (tests/api/align_table.c prints a table of
# cases; here it runs plainly and under LD_PRELOAD and the outputs must be
# equal), and pym_memalign / pym_aligned_alloc / pym_posix_memalign do
# what include/pymalloc.h says:
#   pym_memalign        glibc's memalign (rounds the alignment up)
#   pym_posix_memalign  glibc's posix_memalign
#   pym_aligned_alloc   C17 (DR 460): EINVAL unless a power of two, else
#                       memalign's answer
# posix_memalign sets errno to ENOMEM when it fails, as glibc's does (the
# table prints a "changed errno" line for that, for both).
tap_name=align
. "$top_srcdir/tests/tap.sh"
prog=$top_builddir/tests/api/align_table
lib=$top_builddir/.libs/libpymalloc.so

echo "1..4"
run "$prog"
cp "$tmp/out" "$tmp/glibc"
check "the reference table (glibc) is printed" '[ $status = 0 ] && [ "$(lines "$tmp/glibc")" -gt 300 ]'
run LD_PRELOAD="$lib" "$prog"
check "preloaded: memalign, aligned_alloc, posix_memalign answer as glibc does" \
    '[ $status = 0 ] && diff "$tmp/glibc" "$tmp/out" >"$tmp/err"'
run LD_PRELOAD="$lib" "$prog" pym
cp "$tmp/out" "$tmp/pym"
check "pym_memalign and pym_posix_memalign answer as glibc's memalign and posix_memalign" \
    '[ $status = 0 ] && grep -v "^aligned_alloc" "$tmp/glibc" >"$tmp/a" &&
     grep -v "^aligned_alloc" "$tmp/pym" >"$tmp/b" && diff "$tmp/a" "$tmp/b" >"$tmp/err"'
# The expected pym_aligned_alloc table: memalign's answer for a power of
# two, EINVAL for any other alignment.
sed -n 's/^memalign/aligned_alloc/p' "$tmp/glibc" |
    sed 's/ npow2 = .*/ npow2 = NULL, error EINVAL/' >"$tmp/expected"
check "pym_aligned_alloc: EINVAL unless the alignment is a power of two, else memalign's answer" \
    'grep "^aligned_alloc" "$tmp/pym" | diff "$tmp/expected" - >"$tmp/err"'
