#!/bin/sh
# Runs examples/doctree and checks what it reports, as TAP; exits non-zero
# when a check fails or the program cannot be run.
#
# The build tree: $top_builddir (make check sets it), else the first
# argument, else the one scripts/demo.sh builds (TOP/build), else the
# current directory.  doctree is a check program, so after a plain `make`
# it does not exist yet: it is built then (make examples/doctree).
top=$(cd "$(dirname "$0")/.." && pwd)
build=${top_builddir:-${1:-}}
if [ -z "$build" ]; then
  if [ -f "$top/build/Makefile" ]; then build=$top/build; else build=.; fi
fi
prog=$build/examples/doctree
if [ ! -x "$prog" ] && [ -f "$build/Makefile" ]; then
  make -s -C "$build" examples/doctree >&2
fi
if [ ! -x "$prog" ]; then
  echo "Bail out! $prog does not exist and cannot be built: build pymalloc first (scripts/build.sh build), or name the build tree: $0 BUILD-DIR"
  exit 1
fi
out=$("$prog")
status=$?
failed=0
echo "1..5"
check() {  # check N NAME PATTERN
  if printf '%s\n' "$out" | grep -qF -- "$3"; then echo "ok $1 - $2"; else echo "not ok $1 - $2"; failed=1; fi
}
if [ "$status" -eq 0 ]; then echo "ok 1 - doctree exits 0 with no element left"; else echo "not ok 1 - doctree exit status $status"; failed=1; fi
check 2 "dropping the document frees nothing by refcount" "live elements after dropping the document: 7"
check 3 "a selected paragraph keeps the whole tree" "collection with a paragraph selected: 0 unreachable"
check 4 "the collector frees all seven elements" "collection after dropping the selection: 7 unreachable"
check 5 "the weak index entry is cleared" "index entry for the intro paragraph: gone"
printf '%s\n' "$out" | sed 's/^/# /'
exit $failed
