#!/bin/sh
# Runs examples/doctree and checks what it reports, as TAP.
out=$("${top_builddir:-.}/examples/doctree")
status=$?
echo "1..5"
check() {  # check N NAME PATTERN
  if printf '%s\n' "$out" | grep -qF -- "$3"; then echo "ok $1 - $2"; else echo "not ok $1 - $2"; fi
}
if [ "$status" -eq 0 ]; then echo "ok 1 - doctree exits 0 with no element left"; else echo "not ok 1 - doctree exit status $status"; fi
check 2 "dropping the document frees nothing by refcount" "live elements after dropping the document: 7"
check 3 "a selected paragraph keeps the whole tree" "collection with a paragraph selected: 0 unreachable"
check 4 "the collector frees all seven elements" "collection after dropping the selection: 7 unreachable"
check 5 "the weak index entry is cleared" "index entry for the intro paragraph: gone"
printf '%s\n' "$out" | sed 's/^/# /'
