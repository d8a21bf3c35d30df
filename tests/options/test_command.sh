#!/bin/sh
# test_command.sh -- the pymalloc command of the build tree (tools/pymalloc,
# pointed at the built library) and its manual page.  Prints TAP.  Cases
# that preload the library into a plain program are skipped when it needs a
# sanitizer runtime first (ASan/TSan builds).
set -u
: "${top_builddir:?run me from make check}" "${top_srcdir:?}" "${PYM_LIB:?}"
cmd=$top_builddir/tools/pymalloc
workload=$top_builddir/tests/options/plain_workload
manpage=$top_srcdir/man/pymalloc.1
version=$(sed -n 's/^#define PACKAGE_VERSION "\(.*\)"$/\1/p' "$top_builddir/pym_build_config.h")
tap_name=command
. "$top_srcdir/tests/tap.sh"

if readelf -d "$PYM_LIB" 2>/dev/null | grep -Eq 'NEEDED.*lib(a|t)san'; then
  no_preload="the library needs a sanitizer runtime first"
else
  no_preload=
fi

echo "1..13"

run "$cmd" --version
check "--version prints the package version ($version)" \
  '[ $status -eq 0 ] && [ -n "$version" ] && [ "$(cat "$tmp/out")" = "pymalloc $version" ]'

run "$cmd" --help
check "--help: usage on stdout, exit 0" \
  '[ $status -eq 0 ] && grep -q "^Usage: pymalloc" "$tmp/out" && grep -q -- "--stats-file=PATH" "$tmp/out" && [ ! -s "$tmp/err" ]'

run "$cmd" --bogus -- true
check "unknown option: one line naming it, exit 2, command not run" \
  '[ $status -eq 2 ] && [ "$(lines "$tmp/err")" = 1 ] && grep -q -- "--bogus" "$tmp/err" && [ ! -s "$tmp/out" ]'

run "$cmd" --stats
check "no command: exit 2" '[ $status -eq 2 ] && [ "$(lines "$tmp/err")" = 1 ]'

run "$cmd" --lib=/nonexistent/libpymalloc.so -- true
check "missing library: one line naming it, exit 127" \
  '[ $status -eq 127 ] && grep -q "/nonexistent/libpymalloc.so" "$tmp/err"'

if [ -n "$no_preload" ]; then
  for what in "exit status passed through" "arguments passed intact, no --" \
      "options become PYMALLOC_* variables, LD_PRELOAD prepended" "PYMALLOC_LIB picks the library and is not passed on" \
      "--stats: the library is loaded and prints its table" "--stats-file=relative path: written there, not to stderr" \
      "--disable: loaded but malloc not served"; do
    skip "$what" "$no_preload"
  done
else
  run "$cmd" --lib="$PYM_LIB" -- sh -c 'exit 7'
  check "exit status passed through" '[ $status -eq 7 ]'

  run "$cmd" --lib="$PYM_LIB" sh -c 'printf "%s|" "$@"' arg0 "a b" "" "-c"
  check "arguments passed intact, no --" '[ $status -eq 0 ] && [ "$(cat "$tmp/out")" = "a b||-c|" ]'

  run env LD_PRELOAD=libdl.so.2 "$cmd" --stats --debug --disable --verbose --lib="$PYM_LIB" -- env
  check "options become PYMALLOC_* variables, LD_PRELOAD prepended" \
    '[ $status -eq 0 ] && grep -qx "PYMALLOC_STATS=1" "$tmp/out" && grep -qx "PYMALLOC_DEBUG=1" "$tmp/out" &&
     grep -qx "PYMALLOC_DISABLE=1" "$tmp/out" && grep -qx "PYMALLOC_VERBOSE=1" "$tmp/out" &&
     grep -qx "LD_PRELOAD=$PYM_LIB libdl.so.2" "$tmp/out"'

  run env PYMALLOC_LIB="$PYM_LIB" "$cmd" -- env
  check "PYMALLOC_LIB picks the library and is not passed on" \
    '[ $status -eq 0 ] && grep -qx "LD_PRELOAD=$PYM_LIB" "$tmp/out" && ! grep -q "^PYMALLOC_LIB=" "$tmp/out" && [ ! -s "$tmp/err" ]'

  run "$cmd" --stats --lib="$PYM_LIB" -- "$workload"
  check "--stats: the library is loaded and prints its table" \
    '[ $status -eq 0 ] && grep -q "pymalloc loaded=1" "$tmp/out" && grep -q "^# arenas allocated total" "$tmp/err"'

  (cd "$tmp" && mkdir sub && cd sub && timeout 60 "$cmd" --stats-file=stats.txt --lib="$PYM_LIB" -- \
     sh -c 'cd / && exec "$0"' "$workload" >"$tmp/out" 2>"$tmp/err"); status=$?
  check "--stats-file=relative path: written there, not to stderr" \
    '[ $status -eq 0 ] && grep -q "^# arenas allocated total" "$tmp/sub/stats.txt" && ! grep -q "arenas allocated" "$tmp/err"'

  run "$cmd" --disable --lib="$PYM_LIB" -- "$workload"
  check "--disable: loaded but malloc not served" '[ $status -eq 0 ] && grep -q "loaded=1 owns=0" "$tmp/out"'
fi

if command -v groff >/dev/null 2>&1; then
  LC_ALL=C groff -man -Tutf8 -ww -z "$manpage" >"$tmp/out" 2>"$tmp/err"; status=$?
  check "man page formats without a warning and names this version" \
    '[ $status -eq 0 ] && [ ! -s "$tmp/err" ] && grep -q "^\.TH PYMALLOC 1 .*\"pymalloc $version\"" "$manpage"'
else
  skip "man page formats without a warning" "groff not installed"
fi
