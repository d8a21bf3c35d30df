#!/bin/sh
# test_install.sh -- `make install` and `make uninstall` of this build tree,
# staged in a temporary DESTDIR, used the way a user would use them:
#   - every file lands where configure said (libraries, header, pymalloc.pc,
#     the pymalloc command, its manual page);
#   - a program compiled with `pkg-config --cflags --libs pymalloc` against
#     the staged header and library runs on it (LD_LIBRARY_PATH);
#   - the installed command reports the version, names the configured library
#     path, and runs /bin/true with the staged library and --stats;
#   - `make uninstall` leaves no file behind.
# Programs are not run on the library in sanitizer builds (the sanitizer
# runtime would have to be loaded first).  Prints TAP.
set -u
: "${top_builddir:?run me from make check}" "${top_srcdir:?}"
tap_name=install
. "$top_srcdir/tests/tap.sh"
stage=$tmp/stage
unset MAKEFLAGS MFLAGS MAKELEVEL

echo "1..9"

# The installation directories as make expands them (the user may have
# changed any of them at configure time).
dirs=$(printf 'pym-print-dirs:\n\t@echo $(bindir) $(libdir) $(includedir) $(mandir) $(PACKAGE_VERSION)\n' |
       make -s -C "$top_builddir" -f Makefile -f - pym-print-dirs)
set -- $dirs
bindir=$1 libdir=$2 includedir=$3 mandir=$4 version=$5

run make -C "$top_builddir" install DESTDIR="$stage"
installed="$bindir/pymalloc $libdir/libpymalloc.so $libdir/libpymalloc.a $includedir/pymalloc.h
           $libdir/pkgconfig/pymalloc.pc $libdir/pkgconfig/pymalloc_gc.pc $mandir/man1/pymalloc.1"
missing=
for f in $installed; do [ -e "$stage$f" ] || missing="$missing $f"; done
check "make install DESTDIR=...: library, header, pymalloc.pc, pymalloc_gc.pc, command, man page${missing:+ (missing:$missing)}" \
  '[ $status -eq 0 ] && [ -z "$missing" ] && [ -x "$stage$bindir/pymalloc" ]'

if readelf -d "$stage$libdir/libpymalloc.so" 2>/dev/null | grep -Eq 'NEEDED.*lib(a|t|ub)san'; then
  no_run="the installed library needs a sanitizer runtime first"
else
  no_run=
fi

cat >"$tmp/user.c" <<'USER'
#include <pymalloc.h>
#include <stdio.h>
#include <string.h>
int main(void)
{
    char *p = pym_malloc(40);
    if (p == NULL)
        return 1;
    strcpy(p, "served");
    pym_stats_t s;
    pym_stats_get(&s);
    printf("%s %s owns=%d arenas=%zu\n", pym_version(), p, pym_owns(p), s.arenas_current);
    pym_free(p);
    return 0;
}
USER
flags=$(PKG_CONFIG_PATH="$stage$libdir/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$stage" pkg-config --cflags --libs pymalloc 2>"$tmp/err")
run ${CC:-cc} -o "$tmp/user" "$tmp/user.c" $flags
check "pkg-config --cflags --libs pymalloc: compiles and links against the staged tree" \
  '[ $status -eq 0 ] && echo "$flags" | grep -q -- "-I$stage$includedir" && echo "$flags" | grep -q -- "-L$stage$libdir"'

if [ -n "$no_run" ]; then
  skip "the program runs on the installed library" "$no_run"
else
  run env LD_LIBRARY_PATH="$stage$libdir" "$tmp/user"
  resolved=$(LD_LIBRARY_PATH="$stage$libdir" ldd "$tmp/user" 2>/dev/null | sed -n 's/.*libpymalloc\.so[^ ]* => \([^ ]*\).*/\1/p')
  check "the program runs on the installed library ($resolved)" \
    '[ $status -eq 0 ] && grep -qx "$version served owns=1 arenas=[1-9][0-9]*" "$tmp/out" && [ "$resolved" = "$stage$libdir/libpymalloc.so.0" ]'
fi

cat >"$tmp/gc_user.c" <<'USER'
#include <pymalloc_gc.h>
int main(void)
{
    return pym_gc_collect(2) < 0;
}
USER
gc_flags=$(PKG_CONFIG_PATH="$stage$libdir/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$stage" pkg-config --cflags --libs pymalloc_gc 2>"$tmp/err")
run ${CC:-cc} -o "$tmp/gc_user" "$tmp/gc_user.c" $gc_flags
check "pkg-config --cflags --libs pymalloc_gc: a GC layer program links against the staged tree" \
  '[ $status -eq 0 ] && echo "$gc_flags" | grep -q -- "-lpymalloc_gc" && echo "$gc_flags" | grep -q -- "-lpymalloc\( \|$\)"'

run "$stage$bindir/pymalloc" --version
check "installed pymalloc --version" '[ $status -eq 0 ] && [ "$(cat "$tmp/out")" = "pymalloc $version" ]'

run "$stage$bindir/pymalloc" --help
check "installed pymalloc preloads $libdir/libpymalloc.so by default" \
  '[ $status -eq 0 ] && grep -q "$libdir/libpymalloc.so" "$tmp/out"'

if [ -n "$no_run" ]; then
  skip "installed pymalloc --stats -- /bin/true (staged library)" "$no_run"
else
  run env PYMALLOC_LIB="$stage$libdir/libpymalloc.so" "$stage$bindir/pymalloc" --stats -- /bin/true
  check "installed pymalloc --stats -- /bin/true (staged library): statistics at exit" \
    '[ $status -eq 0 ] && grep -q "^pymalloc $version: small block threshold" "$tmp/err" && grep -q "^# arenas allocated total" "$tmp/err"'
fi

if command -v man >/dev/null 2>&1; then
  run env LC_ALL=C MANWIDTH=80 man -l "$stage$mandir/man1/pymalloc.1"
  check "man -l renders the installed page" \
    '[ $status -eq 0 ] && grep -q "^SYNOPSIS" "$tmp/out" && grep -q "PYMALLOC_ARENA_CACHE" "$tmp/out"'
else
  skip "man -l renders the installed page" "man not installed"
fi

run make -C "$top_builddir" uninstall DESTDIR="$stage"
left=$(find "$stage" ! -type d | sed "s|^$stage||")
check "make uninstall leaves no file${left:+ (left: $(echo $left))}" '[ $status -eq 0 ] && [ -z "$left" ]'

