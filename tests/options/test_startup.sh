#!/bin/sh
# test_startup.sh -- what a newcomer sees first: the statistics table of a
# program that closes stderr before exit (ls, sort), one header per
# process, PYMALLOC_STATS_FILE alone, option values in any case and
# `auto`, and PYMALLOC_VERBOSE's report of every start-up decision.
# option_probe links the library; the LD_PRELOAD cases are skipped when the
# library needs a sanitizer runtime first.
set -u
: "${top_builddir:?run me from make check}" "${top_srcdir:?}" "${PYM_LIB:?run me from make check}"
probe=$top_builddir/tests/options/option_probe
tap_name=startup tap_timeout=60
. "$top_srcdir/tests/tap.sh"

if readelf -d "$PYM_LIB" 2>/dev/null | grep -Eq 'NEEDED.*lib(a|t)san'; then
  no_preload="the library needs a sanitizer runtime first"
else
  no_preload=
fi
headers() { grep -c "^pymalloc statistics of pid [0-9]* (.*) at exit:$" "$1"; }

echo "1..15"

# ---- statistics --------------------------------------------------------------
if [ -n "$no_preload" ]; then
  for name in "ls > /dev/null" "sort" "bash running two ls" "fd reused"; do
    skip "PYMALLOC_STATS=1 LD_PRELOAD $name" "$no_preload"
  done
else
  run PYMALLOC_STATS=1 LD_PRELOAD="$PYM_LIB" sh -c 'exec ls / > /dev/null'
  check "PYMALLOC_STATS=1 LD_PRELOAD ls > /dev/null: ls closes stderr, the table still comes, under a header naming ls" \
    '[ $status -eq 0 ] && [ "$(headers "$tmp/err")" = 1 ] && grep -q "^pymalloc statistics of pid [0-9]* (ls) at exit:" "$tmp/err" && grep -q "^# arenas allocated total" "$tmp/err"'

  printf 'b\na\n' >"$tmp/in"
  run PYMALLOC_STATS=1 LD_PRELOAD="$PYM_LIB" sh -c 'exec sort "$1"' sh "$tmp/in"
  check "PYMALLOC_STATS=1 LD_PRELOAD sort: the table comes, after sort's output" \
    '[ $status -eq 0 ] && [ "$(cat "$tmp/out")" = "$(printf "a\nb")" ] && [ "$(headers "$tmp/err")" = 1 ] && grep -q "(sort) at exit" "$tmp/err"'

  run PYMALLOC_STATS=1 LD_PRELOAD="$PYM_LIB" bash -c 'ls / >/dev/null; ls / >/dev/null; exit 0'
  check "bash running ls twice: three tables, each under its own pid" \
    '[ $status -eq 0 ] && [ "$(headers "$tmp/err")" = 3 ] && [ "$(sed -n "s/^pymalloc statistics of pid \([0-9]*\) .*/\1/p" "$tmp/err" | sort -u | wc -l)" = 3 ] && [ "$(grep -c "(ls) at exit" "$tmp/err")" = 2 ]'

  # The program closes every descriptor above 2 (ours among them) and opens
  # a file that may get our duplicate's number: the table must not land in it.
  run PYMALLOC_STATS=1 LD_PRELOAD="$PYM_LIB" bash -c \
    'for fd in 3 4 5 6 7 8 9; do eval "exec $fd>&-"; done; exec 3>"$1"; echo mine >&3' bash "$tmp/own"
  check "a program that closed our descriptor and reused its number keeps its file to itself" \
    '[ $status -eq 0 ] && [ "$(cat "$tmp/own")" = mine ] && [ "$(headers "$tmp/err")" = 1 ]'
fi

run PYMALLOC_STATS_FILE="$tmp/stats.txt" timeout 30 "$probe"
check "PYMALLOC_STATS_FILE alone turns the statistics on, into the file" \
  '[ $status -eq 0 ] && [ ! -s "$tmp/err" ] && grep -q "STATS=1 " "$tmp/out" && [ "$(headers "$tmp/stats.txt")" = 1 ] && grep -q "^# arenas allocated total" "$tmp/stats.txt"'

rm -f "$tmp/stats.txt"
run PYMALLOC_STATS=0 PYMALLOC_STATS_FILE="$tmp/stats.txt" timeout 30 "$probe"
check "PYMALLOC_STATS=0 with PYMALLOC_STATS_FILE: off, as asked" \
  '[ $status -eq 0 ] && [ ! -s "$tmp/err" ] && grep -q "STATS=0 " "$tmp/out" && [ ! -e "$tmp/stats.txt" ]'

# ---- option values -------------------------------------------------------------
run PYMALLOC_DEBUG=ON PYMALLOC_ARENA_CACHE=3 PYMALLOC_STATS=Yes timeout 30 "$probe"
check "ON, Yes: values are read without regard to case, no warning" \
  '[ $status -eq 0 ] && grep -q "STATS=1 DEBUG=1 ARENA_CACHE=3 " "$tmp/out" && ! grep -q "not a valid value" "$tmp/err"'

run PYMALLOC_DEBUG=Off PYMALLOC_VERBOSE=No PYMALLOC_STATS=FALSE timeout 30 "$probe"
check "Off, No, FALSE: read as 0, no warning" \
  '[ $status -eq 0 ] && [ ! -s "$tmp/err" ] && grep -q "STATS=0 DEBUG=0 ARENA_CACHE=1 DISABLE=0 VERBOSE=0" "$tmp/out"'

run PYMALLOC_DISABLE=auto timeout 30 "$probe"
run2_status=$status; cp "$tmp/out" "$tmp/out1"; cp "$tmp/err" "$tmp/err1"
run PYMALLOC_DISABLE=AUTO timeout 30 "$probe"
check "PYMALLOC_DISABLE=auto (and AUTO), which the table lists: accepted, not under valgrind means on" \
  '[ $run2_status -eq 0 ] && [ $status -eq 0 ] && [ ! -s "$tmp/err1" ] && [ ! -s "$tmp/err" ] && grep -q "DISABLE=0 .*pym_owns=1" "$tmp/out1" && grep -q "DISABLE=0 .*pym_owns=1" "$tmp/out"'

run PYMALLOC_STATS=auto timeout 30 "$probe"
check "PYMALLOC_STATS=auto (not listed for STATS): one warning, default kept" \
  '[ $status -eq 0 ] && [ "$(lines "$tmp/err")" = 1 ] && grep -q "PYMALLOC_STATS=auto is not a valid value" "$tmp/err" && grep -q "STATS=0 " "$tmp/out"'

# ---- PYMALLOC_VERBOSE ------------------------------------------------------------
run PYMALLOC_VERBOSE=1 timeout 30 "$probe"
check "PYMALLOC_VERBOSE=1: build, options, enabled and why, one line each" \
  '[ $status -eq 0 ] && grep -q "^pymalloc: pymalloc [0-9.]* in pid [0-9]* (.*option_probe): build override=" "$tmp/err" && grep -q "^pymalloc: options: STATS=0 DEBUG=0 ARENA_CACHE=1 DISABLE=0 VERBOSE=1 PURGE_DELAY_MS=250 PURGE_THREAD=1 FWD_CACHE=1$" "$tmp/err" && grep -q "^pymalloc: enabled (PYMALLOC_DISABLE: auto: not running under valgrind)$" "$tmp/err"'

run PYMALLOC_VERBOSE=1 PYMALLOC_DEBUG=1 PYMALLOC_STATS_FILE="$tmp/s2.txt" timeout 30 "$probe"
check "PYMALLOC_VERBOSE=1 reports debug mode and where the statistics go" \
  '[ $status -eq 0 ] && grep -q "^pymalloc: debug mode on (PYMALLOC_DEBUG)" "$tmp/err" && grep -q "^pymalloc: statistics at exit: appended to PYMALLOC_STATS_FILE=$tmp/s2.txt (which implies PYMALLOC_STATS=1)$" "$tmp/err"'

run PYMALLOC_VERBOSE=1 PYMALLOC_DISABLE=1 timeout 30 "$probe"
check "PYMALLOC_VERBOSE=1 PYMALLOC_DISABLE=1: says it is disabled and why" \
  '[ $status -eq 0 ] && grep -q "^pymalloc: disabled (set by PYMALLOC_DISABLE): forwarding every request to libc$" "$tmp/err"'

if [ -n "$no_preload" ] || ! command -v valgrind >/dev/null 2>&1; then
  skip "memcheck with PYMALLOC_DISABLE=0: malloc is still memcheck's (LD_PRELOAD.md, pymalloc(1))" "${no_preload:-valgrind not installed}"
else
  run PYMALLOC_DISABLE=0 LD_PRELOAD="$PYM_LIB" timeout 120 valgrind -q --error-exitcode=99 "$top_builddir/tests/options/plain_workload"
  check "memcheck with PYMALLOC_DISABLE=0: malloc is still memcheck's (LD_PRELOAD.md, pymalloc(1))" \
    '[ $status -eq 0 ] && grep -q "loaded=1 owns=0" "$tmp/out"'
fi
if [ -n "$no_preload" ] || ! command -v valgrind >/dev/null 2>&1; then
  skip "PYMALLOC_VERBOSE=1 under valgrind: disabled, because of valgrind" "${no_preload:-valgrind not installed}"
else
  run PYMALLOC_VERBOSE=1 timeout 120 valgrind -q --tool=none "$probe"
  check "PYMALLOC_VERBOSE=1 under valgrind: disabled, because of valgrind" \
    '[ $status -eq 0 ] && grep -q "^pymalloc: disabled (auto: running under valgrind" "$tmp/err"'
fi
