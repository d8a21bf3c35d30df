#!/bin/sh
# where.sh BUILD-DIR -- prints how to use the pymalloc built in BUILD-DIR
# before `make install`: the README's three ways with this tree's paths.
# scripts/demo.sh ends with it; tests/install/test_build_tree.sh checks
# that every path it prints exists and that the commands work.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:?usage: $0 BUILD-DIR}" && pwd)
cat <<WHERE
== Built in $build (nothing installed; 'make -C $build install' puts it under /usr/local)
   library    $build/.libs/libpymalloc.so
   archive    $build/.libs/libpymalloc.a
   header     $top/include/pymalloc.h
   command    $build/tools/pymalloc   (preloads the library above by default)
   manual     man -l $top/man/pymalloc.1
== The three ways to use it, from this tree:
   1. preload:  LD_PRELOAD=$build/.libs/libpymalloc.so git status
                $build/tools/pymalloc --stats -- git status
   2. link:     cc app.c -o app -I$top/include $build/.libs/libpymalloc.a -pthread -ldl
   3. prefixed: cc app.c -o app -I$top/include -L$build/.libs -Wl,-rpath,$build/.libs -lpymalloc
                (#include <pymalloc.h>: pym_malloc, pym_free, ...)
   GC layer example: examples/run-doctree.sh $build
WHERE
