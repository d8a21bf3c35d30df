#!/bin/sh
# stacked.sh -- pymalloc preloaded together with another allocator
# (mimalloc, tcmalloc), in both orders: python3 doing some work must give
# the same output as without any preload and exit 0.  Whichever library
# comes first wins the interposition; pymalloc must then still forward its
# own requests to glibc, never mix two allocators (issue 12, item 7).
# An allocator that is not installed is a SKIP.
# With pymalloc first, python3 segfaulted before core v2: pymalloc's
# __libc_malloc imports bound to the other allocator.  PYMALLOC_VERBOSE
# must say "another allocator's" exactly when the other library is first,
# and not for pymalloc alone (python3 is a non-PIE executable whose own
# malloc stub once made pymalloc believe it had lost).
tap_name=stacked tap_timeout=120
. "$top_srcdir/tests/tap.sh"
lib=${PYM_LIB:?run me from make check}
libdir=/usr/lib/x86_64-linux-gnu

work='import json, collections
d = {str(i): [i] * 10 + [str(i) * 3] for i in range(20000)}
s = json.dumps(d)
c = collections.Counter(len(v) for v in json.loads(s).values())
words = sorted(set(x for i in range(3000) for x in (str(i) * 2, "w%d" % (i % 97))))
print(len(s), dict(c), len(words), sum(len(w) for w in words))'

# Debian's python3 (non-PIE) when there, not one a version manager puts first.
py=/usr/bin/python3
[ -x "$py" ] || py=python3

echo "1..5"
if ! command -v "$py" >/dev/null 2>&1; then
  for i in 1 2 3 4 5; do skip "python3 stacked with another allocator" "python3 not installed"; done
  exit 0
fi
run PYTHONMALLOC=malloc "$py" -c "$work"
cp "$tmp/out" "$tmp/expected"
if [ $status -ne 0 ] || [ ! -s "$tmp/expected" ]; then
  for i in 1 2 3 4 5; do not_ok "python3 without preload works (status $status)"; done
  exit 0
fi

run LD_PRELOAD="$lib" PYMALLOC_VERBOSE=1 PYTHONMALLOC=malloc "$py" -c "$work"
check "LD_PRELOAD=libpymalloc.so alone: same output, and no claim that another allocator won" \
  '[ $status -eq 0 ] && cmp -s "$tmp/out" "$tmp/expected" && grep -q "pymalloc: enabled" "$tmp/err" && ! grep -q "another allocator" "$tmp/err"'

# stacked NAME LIBRARY: both orders.
stacked() {
  name=$1 other=$2
  if [ ! -e "$other" ]; then
    skip "LD_PRELOAD=\"libpymalloc.so $name\": python3 works" "$name not installed"
    skip "LD_PRELOAD=\"$name libpymalloc.so\": python3 works" "$name not installed"
    return
  fi
  run LD_PRELOAD="$lib $other" PYMALLOC_VERBOSE=1 PYTHONMALLOC=malloc "$py" -c "$work"
  check "LD_PRELOAD=\"libpymalloc.so $name\": python3 works, same output (status $status)" \
    '[ $status -eq 0 ] && cmp -s "$tmp/out" "$tmp/expected" && ! grep -q "another allocator" "$tmp/err"'
  run LD_PRELOAD="$other $lib" PYMALLOC_VERBOSE=1 PYTHONMALLOC=malloc "$py" -c "$work"
  check "LD_PRELOAD=\"$name libpymalloc.so\": python3 works, same output, pymalloc says the other won (status $status)" \
    '[ $status -eq 0 ] && cmp -s "$tmp/out" "$tmp/expected" && grep -q "another allocator" "$tmp/err"'
}

stacked libmimalloc.so.2 "$libdir/libmimalloc.so.2"
if [ -e "$libdir/libtcmalloc_minimal.so.4" ]; then
  stacked libtcmalloc_minimal.so.4 "$libdir/libtcmalloc_minimal.so.4"
else
  stacked libtcmalloc.so.4 "$libdir/libtcmalloc.so.4"
fi
