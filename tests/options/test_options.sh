#!/bin/sh
# test_options.sh -- the PYMALLOC_* environment variables, seen from outside.
#
# option_probe (linked with the library) prints what the library made of
# its environment; plain_workload (not linked) is run with LD_PRELOAD,
# directly and under valgrind.  Prints TAP.  Preloading is skipped when the
# library needs a sanitizer runtime (ASan/TSan must come first in the
# process), valgrind when it is not installed.
set -u
: "${top_builddir:?run me from make check}" "${top_srcdir:?}" "${PYM_LIB:?run me from make check}"
probe=$top_builddir/tests/options/option_probe
workload=$top_builddir/tests/options/plain_workload
tap_name=options tap_timeout=300     # the cases bound themselves more tightly
. "$top_srcdir/tests/tap.sh"

if readelf -d "$PYM_LIB" 2>/dev/null | grep -Eq 'NEEDED.*lib(a|t)san'; then
  no_preload="the library needs a sanitizer runtime first"
else
  no_preload=
fi
if "$probe" | grep -q 'malloc_owns=-'; then override=no; else override=yes; fi

echo "1..14"

run timeout 30 "$probe"
check "no PYMALLOC_* variable: no message, defaults, pymalloc serves" \
  '[ $status -eq 0 ] && [ ! -s "$tmp/err" ] && grep -q "STATS=0 DEBUG=0 ARENA_CACHE=1 DISABLE=0 VERBOSE=0 pym_owns=1" "$tmp/out"'

run PYMALLOC_STATZ=1 timeout 30 "$probe"
check "misspelt PYMALLOC_STATZ: exactly one warning line, naming it" \
  '[ $status -eq 0 ] && [ "$(lines "$tmp/err")" = 1 ] && grep -q "PYMALLOC_STATZ" "$tmp/err" && grep -q "STATS=0" "$tmp/out"'

run PYMALLOC_ARENA_CACHE=abc timeout 30 "$probe"
check "PYMALLOC_ARENA_CACHE=abc: one warning naming it, default kept" \
  '[ $status -eq 0 ] && [ "$(lines "$tmp/err")" = 1 ] && grep -q "PYMALLOC_ARENA_CACHE" "$tmp/err" && grep -q "ARENA_CACHE=1 " "$tmp/out"'

run PYMALLOC_ARENA_CACHE=4 PYMALLOC_VERBOSE=yes timeout 30 "$probe"
check "PYMALLOC_ARENA_CACHE=4, PYMALLOC_VERBOSE=yes are read" \
  '[ $status -eq 0 ] && grep -q "ARENA_CACHE=4 DISABLE=0 VERBOSE=1" "$tmp/out"'

run PYMALLOC_ARENA_CACHE=5000 timeout 30 "$probe"
check "PYMALLOC_ARENA_CACHE=5000 (out of range): one warning, default kept" \
  '[ $status -eq 0 ] && [ "$(lines "$tmp/err")" = 1 ] && grep -q "PYMALLOC_ARENA_CACHE" "$tmp/err" && grep -q "ARENA_CACHE=1 " "$tmp/out"'

run PYMALLOC_STATS=1 timeout 30 "$probe"
total=$(sed -n 's/^Total *= *\([0-9]*\)$/\1/p' "$tmp/err")
arenas=$(sed -n 's/^[0-9]* arenas \* [0-9]* bytes\/arena *= *\([0-9]*\)$/\1/p' "$tmp/err")
check "PYMALLOC_STATS=1: table on stderr at exit, bytes add up to the arenas" \
  '[ $status -eq 0 ] && grep -q "^# arenas allocated total" "$tmp/err" && grep -q "^class   size" "$tmp/err" && [ -n "$total" ] && [ "$total" = "$arenas" ] && [ "$total" -gt 0 ]'

run PYMALLOC_STATS=1 PYMALLOC_STATS_FILE="$tmp/stats.txt" timeout 30 "$probe"
check "PYMALLOC_STATS_FILE: the table goes to the file, not stderr" \
  '[ $status -eq 0 ] && ! grep -q "arenas allocated total" "$tmp/err" && grep -q "^# arenas allocated total" "$tmp/stats.txt"'

run PYMALLOC_DISABLE=1 timeout 30 "$probe"
check "PYMALLOC_DISABLE=1: nothing served by pymalloc (pym_malloc, malloc)" \
  '[ $status -eq 0 ] && grep -q "DISABLE=1 VERBOSE=0 pym_owns=0 malloc_owns=[0-]" "$tmp/out"'

if [ -n "$no_preload" ]; then
  skip "LD_PRELOAD into a plain program" "$no_preload"
  skip "LD_PRELOAD with PYMALLOC_DISABLE=1" "$no_preload"
  skip "LD_PRELOAD with PYMALLOC_STATS=1" "$no_preload"
else
  run LD_PRELOAD="$PYM_LIB" timeout 60 "$workload"
  if [ $override = yes ]; then want="loaded=1 owns=1"; else want="loaded=1 owns=0"; fi
  check "LD_PRELOAD into a plain program: loaded, serves malloc when overriding ($want)" \
    '[ $status -eq 0 ] && [ ! -s "$tmp/err" ] && grep -q "$want" "$tmp/out"'
  if [ $override = yes ]; then
    run LD_PRELOAD="$PYM_LIB" PYMALLOC_DISABLE=1 timeout 60 "$workload"
    check "LD_PRELOAD with PYMALLOC_DISABLE=1: pym_owns(malloc(32)) is false" \
      '[ $status -eq 0 ] && grep -q "loaded=1 owns=0" "$tmp/out"'
  else
    skip "LD_PRELOAD with PYMALLOC_DISABLE=1" "--disable-override: malloc is never ours"
  fi
  run LD_PRELOAD="$PYM_LIB" PYMALLOC_STATS=yes timeout 60 "$workload"
  check "LD_PRELOAD with PYMALLOC_STATS=yes: table at exit" \
    '[ $status -eq 0 ] && grep -q "^# arenas allocated total" "$tmp/err"'
fi

if [ -n "$no_preload" ] || ! command -v valgrind >/dev/null 2>&1; then
  why=${no_preload:-valgrind not installed}
  skip "memcheck --leak-check=full with the library preloaded: no error" "$why"
  skip "valgrind (no malloc replacement): pymalloc turns itself off" "$why"
  skip "valgrind with PYMALLOC_DISABLE=0: pymalloc stays on" "$why"
else
  run LD_PRELOAD="$PYM_LIB" timeout 300 valgrind -q --leak-check=full --error-exitcode=99 "$workload"
  check "memcheck --leak-check=full with the library preloaded: no error (exit $status)" \
    '[ $status -eq 0 ] && ! grep -q "==[0-9]*==" "$tmp/err" && grep -q "loaded=1 owns=0" "$tmp/out"'
  # memcheck replaces every malloc itself; --tool=none does not, so these
  # two show the library's own valgrind detection (RUNNING_ON_VALGRIND).
  if [ $override = yes ]; then
    run LD_PRELOAD="$PYM_LIB" timeout 300 valgrind -q --tool=none "$workload"
    check "valgrind (no malloc replacement): pymalloc turns itself off" \
      '[ $status -eq 0 ] && grep -q "loaded=1 owns=0" "$tmp/out"'
    run LD_PRELOAD="$PYM_LIB" PYMALLOC_DISABLE=0 timeout 300 valgrind -q --tool=none "$workload"
    check "valgrind with PYMALLOC_DISABLE=0: pymalloc stays on" \
      '[ $status -eq 0 ] && grep -q "loaded=1 owns=1" "$tmp/out"'
  else
    skip "valgrind (no malloc replacement): pymalloc turns itself off" "--disable-override: malloc is never ours"
    skip "valgrind with PYMALLOC_DISABLE=0: pymalloc stays on" "--disable-override: malloc is never ours"
  fi
fi
