#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine or a work tree:
#   1. default build (libc names overridden): make check -- unit, API,
#      stress, lifecycle, static link, real programs under LD_PRELOAD, GC;
#   2. --disable-override: the same suite through the pym_* API alone;
#   3. --disable-override with ASan+UBSan: make check;
#   4. --disable-override with TSan: make check (stress and lifecycle are
#      what it is for; the others run too);
#   5. --disable-override --disable-hardening: make check (links in the
#      clear; the cases only checked links catch are skipped there);
#   6. the default build with clang and clang++: make check.  DWARF 4,
#      which Debian's valgrind 3.19 reads (clang 14 writes 5), and
#      -fno-builtin: clang folds or drops malloc and operator new calls
#      whose results it can predict, and the tests make those calls for
#      what the allocator does (errno, new-handlers);
#   7. --with-small-max=512 (32 classes, requests of 257-512 B in pools,
#      the cache of glibc chunks from 513 B): make check.
# A compiler warning (-Wall -Wextra) in any build counts as a failure.
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
  [clang]="CC=clang CXX=clang++"
  [small-max-512]="--with-small-max=512"
)
declare -A compiler_flags=(
  [clang]="-O2 -gdwarf-4 -fno-builtin"
)
mkdir -p "$top/build-test"
builds=${PYM_TEST_BUILDS:-"default no-override asan tsan no-hardening clang small-max-512"}
jobs=$(nproc)
passed=0 failed=0 skipped=0

count() {  # count FIELD LOGFILE -> the number after "# FIELD:" in automake's summary
  awk -v f="# $1:" 'index($0, f) == 1 { print $NF; exit }' "$2"
}

for name in $builds; do
  dir="$top/build-test/$name"
  echo "== build '$name' (configure ${configure_args[$name]:-})"
  rm -rf "$dir"
  flags=${compiler_flags[$name]:-}
  if ! env ${flags:+CFLAGS="$flags" CXXFLAGS="$flags"} "$top/scripts/build.sh" "$dir" ${configure_args[$name]} \
       > "$top/build-test/$name.build.log" 2>&1; then
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
  # file:line:column: warning: -- the compilers'; the linker's own notes
  # (dlopen in a static executable) carry no column.
  warnings=$(grep -hE ':[0-9]+:[0-9]+: warning:' "$top/build-test/$name.build.log" "$dir/check.out" | sort -u)
  if [ -n "$warnings" ]; then
    echo "$warnings" | head -20
    echo "build '$name': $(echo "$warnings" | wc -l) compiler warning(s)"
    failed=$((failed + 1))
  fi
  passed=$((passed + ${p:-0}))
  failed=$((failed + ${f:-0} + ${e:-0} + ${x:-0}))
  skipped=$((skipped + ${s:-0}))
done

summary="$passed passed, $failed failed, $skipped skipped"
mkdir -p "$top/build-test" && echo "$summary" > "$top/build-test/summary.txt"
echo "$summary"
[ "$failed" -eq 0 ]
