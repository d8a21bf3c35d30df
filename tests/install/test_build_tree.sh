#!/bin/sh
# test_build_tree.sh -- a newcomer's first hour, before `make install`:
# scripts/where.sh (the end of scripts/demo.sh) names files that exist and
# commands that work from this build tree -- the README's three ways --, the
# build tree's pymalloc command preloads the tree's library by default, and
# examples/run-doctree.sh builds its program when a fresh build lacks it and
# exits non-zero when a check fails.  Programs are not linked or preloaded
# in sanitizer builds (the sanitizer runtime would have to come first).
set -u
: "${top_builddir:?run me from make check}" "${top_srcdir:?}"
tap_name=build-tree
. "$top_srcdir/tests/tap.sh"
unset MAKEFLAGS MFLAGS MAKELEVEL
workload=$top_builddir/tests/options/plain_workload
lib=$top_builddir/.libs/libpymalloc.so
if readelf -d "$lib" 2>/dev/null | grep -Eq 'NEEDED.*lib(a|t|ub)san'; then
  no_run="the library needs a sanitizer runtime first"
else
  no_run=
fi
if grep -q '^#define PYM_OVERRIDE 1' "$top_builddir/pym_build_config.h"; then owns=1; else owns=0; fi

echo "1..8"

run "$top_srcdir/scripts/where.sh" "$top_builddir"
cp "$tmp/out" "$tmp/where"
paths=$(sed -n 's/^   \(library\|archive\|header\|command\) *\([^ ]*\).*/\2/p; s/^   manual *man -l \(.*\)/\1/p' "$tmp/where")
missing=
for p in $paths; do [ -e "$p" ] || missing="$missing $p"; done
check "scripts/where.sh: the library, archive, header, command and manual it names exist${missing:+ (missing:$missing)}" \
  '[ $status -eq 0 ] && [ "$(echo $paths | wc -w)" = 5 ] && [ -z "$missing" ]'

cat >"$tmp/app.c" <<'APP'
#include <pymalloc.h>
#include <stdio.h>
#include <stdlib.h>
int main(void)
{
    void *p = malloc(32), *q = pym_malloc(32);
    printf("malloc_owns=%d pym_owns=%d\n", pym_owns(p), pym_owns(q));
    free(p);
    pym_free(q);
    return 0;
}
APP
# way N: the command line where.sh prints, on our app.c
way() { sed -n "s/^   $1\. [a-z]*: *\(cc .*\)/\1/p" "$tmp/where" | sed "s| app\.c | $tmp/app.c |; s| -o app | -o $tmp/app |"; }

if [ -n "$no_run" ]; then
  skip "way 1: the build tree's pymalloc command preloads the tree's library by default" "$no_run"
  skip "way 2: linking the archive as where.sh says" "$no_run"
  skip "way 3: the prefixed API, linked as where.sh says" "$no_run"
else
  run env -u PYMALLOC_LIB "$top_builddir/tools/pymalloc" -- "$workload"
  check "way 1: the build tree's pymalloc command preloads the tree's library by default" \
    '[ $status -eq 0 ] && grep -q "loaded=1 owns=$owns" "$tmp/out"'
  cmd=$(way 2)
  run sh -c "$cmd && $tmp/app"
  check "way 2: linking the archive as where.sh says ($cmd)" \
    '[ $status -eq 0 ] && grep -q "malloc_owns=$owns pym_owns=1" "$tmp/out"'
  cmd=$(way 3)
  run sh -c "$cmd && $tmp/app"
  check "way 3: the prefixed API, linked as where.sh says ($cmd)" \
    '[ $status -eq 0 ] && grep -q "pym_owns=1" "$tmp/out"'
fi

run "$top_builddir/tools/pymalloc" --help
check "the build tree's pymalloc --help names the tree's library" \
  '[ $status -eq 0 ] && grep -q -- "--lib=PATH *preload PATH instead of $(cd "$top_builddir" && pwd)/.libs/libpymalloc.so" "$tmp/out"'

# run-doctree.sh against stand-in build trees: a fresh one whose Makefile
# can build examples/doctree, one whose doctree reports the wrong things,
# and one with neither.
doctree=$top_srcdir/examples/run-doctree.sh
mkdir -p "$tmp/fresh" "$tmp/wrong/examples" "$tmp/empty"
cat >"$tmp/fresh/Makefile" <<'MAKE'
examples/doctree:
	mkdir -p examples
	printf '%s\n' '#!/bin/sh' 'echo "live elements after dropping the document: 7"' \
	  'echo "collection with a paragraph selected: 0 unreachable"' \
	  'echo "collection after dropping the selection: 7 unreachable"' \
	  'echo "index entry for the intro paragraph: gone"' > $@
	chmod +x $@
MAKE
run env -u top_builddir "$doctree" "$tmp/fresh"
check "run-doctree.sh on a fresh build: builds examples/doctree, five ok, exit 0" \
  '[ $status -eq 0 ] && [ -x "$tmp/fresh/examples/doctree" ] && [ "$(grep -c "^ok" "$tmp/out")" = 5 ]'

printf '#!/bin/sh\necho "live elements after dropping the document: 6"\n' >"$tmp/wrong/examples/doctree"
chmod +x "$tmp/wrong/examples/doctree"
run env -u top_builddir "$doctree" "$tmp/wrong"
check "run-doctree.sh: a failing check exits non-zero" \
  '[ $status -ne 0 ] && grep -q "^not ok 2" "$tmp/out"'

run env -u top_builddir "$doctree" "$tmp/empty"
check "run-doctree.sh without a program or a build tree: Bail out!, exit non-zero" \
  '[ $status -ne 0 ] && grep -q "^Bail out! .*examples/doctree" "$tmp/out"'
