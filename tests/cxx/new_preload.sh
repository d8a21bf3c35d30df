#!/bin/sh
# new_preload.sh -- operator new's semantics (new_semantics.cc) in a C++
# program that links nothing of ours: first plainly (glibc and libstdc++:
# the reference the preloaded run must match), then under
# LD_PRELOAD=libpymalloc.so, where pymalloc's operator new must be the one
# that runs.  And libpymalloc.so itself must not need the C++ runtime: a C
# program that preloads it gets neither libstdc++ nor libgcc_s.
tap_name=new-preload
. "$top_srcdir/tests/tap.sh"
prog=$top_builddir/tests/cxx/new_plain
lib=$top_builddir/.libs/libpymalloc.so

echo "1..5"
run "$prog"
check "the reference (glibc, libstdc++) passes every check" '[ $status = 0 ] && ! grep -q "^not ok" "$tmp/out"'
run LD_PRELOAD="$lib" "$prog" ours
check "under LD_PRELOAD: throw, new-handler and nothrow as the standard says, served by pymalloc" \
    '[ $status = 0 ] && ! grep -q "^not ok" "$tmp/out" && [ "$(grep -c "^ok" "$tmp/out")" = 8 ]'
readelf -d "$lib" >"$tmp/out" 2>"$tmp/err"
check "libpymalloc.so needs neither libstdc++ nor libgcc_s" \
    'grep -q NEEDED "$tmp/out" && ! grep -E -q "NEEDED.*(libstdc\+\+|libgcc_s)" "$tmp/out"'
nm -D --undefined-only "$lib" >"$tmp/out" 2>"$tmp/err"
check "every C++ runtime symbol libpymalloc.so uses is a weak reference" \
    '! grep -E " U (_Z|__cxa|__gxx|_Unwind)" "$tmp/out"'
run LD_PRELOAD="$lib" sh -c 'cat /proc/self/maps'
check "a C program preloading it does not load libstdc++" \
    '[ $status = 0 ] && grep -q libpymalloc "$tmp/out" && ! grep -q libstdc "$tmp/out"'
