#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine or a work tree:
#   1. default build (libc names overridden): make check -- unit, API,
#      stress, lifecycle, static link, real programs under LD_PRELOAD, GC;
#   2. --disable-override: the same suite through the pym_* API alone;
#   3. --disable-override with ASan+UBSan: make check;
#   4. --disable-override with TSan: make check (stress and lifecycle are
#      what it is for; the others run too);
#   5. --disable-override --disable-hardening: make check (links in the
#      clear; the cases only checked links catch are skipped there).
# Ends with one line "N passed, M failed[, K skipped]" summed over all
# builds (automake's TAP counts: one per test case), and exits non-zero when
# anything failed.  Builds go to build-test/<name>; PYM_TEST_BUILDS picks a
# subset, e.g. PYM_TEST_BUILDS="default" for a quick run.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/install-deps.sh" || { echo "0 passed, 1 failed"; exit 1; }
(cd "$top" && autoreconf -fi >/dev/null 2>&1) || { echo "autoreconf failed"; echo "0 passed, 1 failed"; exit 1; }

declare -A configure_args=(
  [default]=""
  [no-override]="--disable-override"
  [asan]="--disable-override --enable-debug --enable-sanitizer=address,undefined"
  [tsan]="--disable-override --enable-sanitizer=thread"
  [no-hardening]="--disable-override --disable-hardening"
)
mkdir -p "$top/build-test"
builds=${PYM_TEST_BUILDS:-"default no-override asan tsan no-hardening"}
jobs=$(nproc)
passed=0 failed=0 skipped=0

count() {  # count FIELD LOGFILE -> the number after "# FIELD:" in automake's summary
  awk -v f="# $1:" 'index($0, f) == 1 { print $NF; exit }' "$2"
}

for name in $builds; do
  dir="$top/build-test/$name"
  echo "== build '$name' (configure ${configure_args[$name]:-})"
  rm -rf "$dir"
  if ! "$top/scripts/build.sh" "$dir" ${configure_args[$name]} > "$top/build-test/$name.build.log" 2>&1; then
    tail -30 "$top/build-test/$name.build.log"
    echo "build '$name' failed"
    failed=$((failed + 1))
    continue
  fi
  make -C "$dir" -j"$jobs" check > "$dir/check.out" 2>&1
  status=$?
  grep -E '^(PASS|FAIL|ERROR|XPASS|SKIP)' "$dir/check.out" | grep -vE '^(PASS|SKIP)' | head -50
  log="$dir/test-suite.log"
  if [ ! -f "$log" ]; then
    tail -40 "$dir/check.out"
    echo "build '$name': make check produced no test-suite.log"
    failed=$((failed + 1))
    continue
  fi
  p=$(count PASS "$log"); f=$(count FAIL "$log"); e=$(count ERROR "$log")
  x=$(count XPASS "$log"); s=$(count SKIP "$log")
  echo "   $name: ${p:-0} passed, $(( ${f:-0} + ${e:-0} + ${x:-0} )) failed, ${s:-0} skipped"
  if [ "$status" -ne 0 ] && [ $(( ${f:-0} + ${e:-0} + ${x:-0} )) -eq 0 ]; then
    tail -40 "$dir/check.out"
    failed=$((failed + 1))   # make check failed outside any test
  fi
  if [ $(( ${f:-0} + ${e:-0} + ${x:-0} )) -ne 0 ]; then
    # Show the failing tests' logs so CI output explains itself.
    for trs in $(grep -lE '^:test-result: (FAIL|ERROR|XPASS)' $(find "$dir" -name '*.trs')); do
      echo "---- ${trs%.trs}.log"; tail -40 "${trs%.trs}.log"
    done
  fi
  passed=$((passed + ${p:-0}))
  failed=$((failed + ${f:-0} + ${e:-0} + ${x:-0}))
  skipped=$((skipped + ${s:-0}))
done

summary="$passed passed, $failed failed, $skipped skipped"
mkdir -p "$top/build-test" && echo "$summary" > "$top/build-test/summary.txt"
echo "$summary"
[ "$failed" -eq 0 ]
