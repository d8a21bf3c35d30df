#!/usr/bin/env bash
# run-programs.sh LIB WORKDIR -- real programs' own work, with and without
# LD_PRELOAD=LIB, compared.
#
# Each check is a shell function that does a piece of real work in the
# current directory and prints what it produced (digests, query results,
# per-test pass/fail lists -- never timings).  It runs twice, in fresh
# directories: once plainly, once with LD_PRELOAD=LIB exported (so every
# process of the check, helpers included, gets our malloc).  The check
# passes when both runs exit 0 and print the same thing.  A check whose
# program is not installed is skipped; every run is bounded by `timeout`.
#
# Prints TAP-ish lines and ends with "N passed, M failed, K skipped";
# exits 1 if anything failed.  PYM_PROGRAMS="sqlite git" runs a subset.
set -u
lib=${1:?usage: run-programs.sh LIB WORKDIR}
work=${2:?usage: run-programs.sh LIB WORKDIR}
[ -f "$lib" ] || { echo "Bail out! no library at $lib"; exit 1; }
python=/usr/bin/python3   # Debian's, whose test suite is installed

# ---- the checks ----------------------------------------------------------------

# CPython's regression tests, with Python objects going through malloc.
# The ignored classes only spawn fresh interpreters or kill workers on
# purpose (slow, and no allocator work); the fork-based process pools stay.
PYTHON_TESTS="test_dict test_list test_set test_unicode test_json test_gc test_weakref
  test_threading test_concurrent_futures test_pickle test_re"
needs_cpython() { [ -x "$python" ] && [ -f /usr/lib/python3.11/test/test_dict.py ]; }
check_cpython() {
  PYTHONMALLOC=malloc timeout 480 "$python" -m test -j2 --timeout 300 \
      -i 'ProcessPoolSpawn*' -i 'ProcessPoolForkserver*' -i '*DeadlockTest' \
      $PYTHON_TESTS > regrtest.out 2>&1
  # One "test_x passed|failed|..." line per test module, in name order.
  sed -nE 's/.*\] (test_[a-z0-9_]+) ([a-z]+( [a-z]+)?).*/\1 \2/p' regrtest.out \
    | sed -E 's/ \(.*//' | sort
  grep -E '^(All [0-9]+ tests OK|[0-9]+ tests? (failed|skipped|OK))' regrtest.out | sort
}

needs_sqlite() { command -v sqlite3 > /dev/null; }
check_sqlite() {
  # 200,000 rows inserted as 200,000 statements in one transaction, then an
  # index and aggregate queries over it.
  awk 'BEGIN { print "CREATE TABLE t(id INTEGER PRIMARY KEY, k TEXT, grp INTEGER, v REAL, note TEXT);";
               print "BEGIN;";
               for (i = 1; i <= 200000; i++)
                 printf "INSERT INTO t(k, grp, v, note) VALUES (%c%x-%d%c, %d, %d.%d, %cnote %s%c);\n",
                        39, (i * 2654435761) % 4294967296, i, 39, i % 97, i % 1000, i % 7, 39,
                        substr("abcdefghijklmnopqrstuvwxyz", 1 + i % 26), 39;
               print "COMMIT;" }' > load.sql
  timeout 120 sqlite3 db.sqlite < load.sql || return 1
  timeout 120 sqlite3 db.sqlite <<'SQL'
CREATE INDEX t_k ON t(k);
CREATE INDEX t_grp_v ON t(grp, v);
SELECT count(*), count(DISTINCT k), sum(grp), round(avg(v), 6), min(k), max(k) FROM t;
SELECT grp, count(*), round(sum(v), 3), min(note), max(note) FROM t GROUP BY grp ORDER BY grp LIMIT 20;
SELECT a.grp, count(*) FROM t a JOIN t b ON a.id = b.id + 1 AND a.grp = b.grp + 1 GROUP BY a.grp ORDER BY 2 DESC, 1 LIMIT 5;
SELECT k FROM t WHERE k > 'f' ORDER BY k LIMIT 5;
SELECT note, group_concat(id % 10, '') FROM (SELECT * FROM t WHERE grp = 3 ORDER BY id LIMIT 50) GROUP BY note ORDER BY note;
PRAGMA integrity_check;
SQL
}

needs_git() { command -v git > /dev/null; }
check_git() {
  export GIT_AUTHOR_NAME=pym GIT_AUTHOR_EMAIL=pym@example.org GIT_COMMITTER_NAME=pym \
         GIT_COMMITTER_EMAIL=pym@example.org GIT_CONFIG_NOSYSTEM=1 HOME=$PWD
  export GIT_AUTHOR_DATE='2024-01-01T00:00:00Z' GIT_COMMITTER_DATE='2024-01-01T00:00:00Z'
  timeout 60 git init -q repo && cd repo || return 1
  # 4,000 files in 40 directories, then a second commit that changes 1,000.
  perl -e 'for $d (0..39) { mkdir "d$d"; for $f (0..99) {
             open my $h, ">", "d$d/f$f.txt"; print $h "file $d/$f line $_\n" for 1..(1 + ($d * 7 + $f) % 50); } }'
  timeout 120 git add -A && timeout 120 git commit -q -m first || return 1
  perl -e 'for $d (0..39) { for $f (grep { $_ % 4 == 0 } 0..99) {
             open my $h, ">>", "d$d/f$f.txt"; print $h "changed $d/$f\n"; } }'
  export GIT_COMMITTER_DATE='2024-01-02T00:00:00Z'
  timeout 120 git commit -q -a -m second || return 1
  git log --format='%H %T %s'
  git diff --shortstat HEAD~1 HEAD
  git ls-files | wc -l
  timeout 180 git gc -q --aggressive || return 1
  timeout 120 git fsck --full --strict 2>&1 || return 1
  git rev-list --objects --all | sort | sha256sum
}

needs_perl() { command -v perl > /dev/null; }
check_perl() {
  # 300,000 pseudo-random words into hashes, regex rewrites and matches.
  timeout 120 perl -e '
    use strict; use warnings; use Digest::MD5 qw(md5_hex);
    my (%count, %first, %shape);
    my $x = 12345;
    for my $i (1 .. 300000) {
      $x = ($x * 1103515245 + 12345) % 2147483648;
      my ($word, $y) = ("", $x);
      do { $word .= chr(97 + $y % 26); $y = int($y / 26) } while ($y > 0 && length $word < 3 + $i % 6);
      $count{$word}++;
      $first{substr($word, 0, 2)} //= $i;
      (my $t = "$word-$i-" . ($i * 31)) =~ s/([aeiou])(\d?)/uc($1) . ($2 || "_")/ge;
      $shape{join "", map { /[A-Z]/ ? "V" : /[a-z]/ ? "c" : "." } split //, $1}++
        if $t =~ /^([A-Z_a-z]+)-(\d+)-\d+$/;
    }
    my @keys = sort keys %count;
    my @ends = grep { /^(.)(.).*\2\1$/ } @keys;
    print scalar(@keys), " words, ", scalar(@ends), " mirrored ends, ",
          scalar(keys %first), " prefixes, ", scalar(keys %shape), " shapes\n";
    print md5_hex(join ",", map { "$_=$count{$_}" } @keys), "\n";
    print md5_hex(join ",", map { "$_=$shape{$_}" } sort keys %shape), "\n";
    delete @count{grep { $count{$_} == 1 } @keys};
    print scalar(keys %count), " repeated\n";'
}

needs_gxx() { command -v g++ > /dev/null; }
check_gxx() {
  # Recursive templates, std containers of many instantiated types.
  "$python" - > tmpl.cc <<'PY' || return 1
n = 120
print("#include <map>\n#include <string>\n#include <tuple>\n#include <vector>\n#include <cstdio>")
print("template <int N> struct Fib { static constexpr long v = Fib<N-1>::v + Fib<N-2>::v; };")
print("template <> struct Fib<1> { static constexpr long v = 1; };")
print("template <> struct Fib<0> { static constexpr long v = 0; };")
print("template <typename... T> struct List { static constexpr int size = sizeof...(T); };")
print("template <int I> struct Node { std::map<std::string, std::vector<std::tuple<int, long, std::string>>> m;")
print("  long fill() { for (int k = 0; k < I % 7 + 1; k++) m[std::to_string(k * I)].emplace_back(k, Fib<I % 60>::v, \"x\"); long s = 0;")
print("    for (auto &p : m) for (auto &t : p.second) s += std::get<1>(t) % 1000 + std::get<0>(t); return s; } };")
for i in range(n):
    print(f"long f{i}() {{ Node<{i}> node; return node.fill() + List<{', '.join(['int'] * (i % 20 + 1))}>::size; }}")
print("int main() { long s = 0;")
for i in range(n):
    print(f"  s += f{i}();")
print('  std::printf("%ld\\n", s); }')
PY
  timeout 300 g++ -std=c++17 -O1 -c tmpl.cc -o tmpl.o || return 1
  timeout 60 g++ tmpl.o -o tmpl || return 1
  ./tmpl
  sha256sum tmpl.o | cut -d' ' -f1
}

make_data() {  # 20 MB of text that compresses about 3:1
  perl -e 'srand(7); for (1 .. 300000) { print join(" ", map { int(rand(1000)) } 1 .. 12), " line $_\n" }' > data
}

needs_xz() { command -v xz > /dev/null; }
check_xz() {
  make_data
  # Blocks of 2 MiB, so that both threads get work.
  timeout 180 xz -T2 -3 --block-size=2MiB -c data > data.xz || return 1
  timeout 120 xz -T2 -d -c data.xz | cmp - data || return 1
  sha256sum data.xz | cut -d' ' -f1
}

needs_zstd() { command -v zstd > /dev/null; }
check_zstd() {
  make_data
  timeout 120 zstd -q -T2 -9 -c data > data.zst || return 1
  timeout 120 zstd -q -T2 -d -c data.zst | cmp - data || return 1
  sha256sum data.zst | cut -d' ' -f1
}

needs_sort() { sort --help 2>/dev/null | grep -q -- --parallel; }
check_sort() {
  awk 'BEGIN { srand(11); for (i = 0; i < 2000000; i++) printf "%d %s\n", int(rand() * 1e9), substr("qwertyuiopasdfgh", 1 + i % 16) }' > lines
  timeout 120 sort --parallel=2 -S 64M -k2,2 -k1,1n lines > sorted || return 1
  timeout 120 sort --parallel=2 -S 8M -u -n lines | sha256sum
  sha256sum < sorted
  wc -l < sorted
}

needs_redis() { command -v redis-server > /dev/null && command -v redis-cli > /dev/null &&
                command -v redis-benchmark > /dev/null; }
free_port() {
  "$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
check_redis() {
  local port pid status=0
  port=$(free_port) || return 1
  timeout 300 redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
      --dir "$PWD" --logfile "$PWD/redis.log" --maxmemory 512mb &
  pid=$!
  # Readiness: poll PING, bounded (about 20 s).
  for _ in $(seq 200); do
    [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ] || { kill "$pid"; wait "$pid"; return 1; }
  timeout 120 redis-benchmark -p "$port" -q -n 20000 -r 10000 -c 20 -P 4 \
      -t set,get,incr,lpush,rpop,sadd,hset,zadd,mset > bench.out 2>&1 || status=1
  # Our own keys: strings, hashes, lists of varied sizes; then read every one back.
  awk 'BEGIN { for (i = 0; i < 20000; i++) {
         v = sprintf("%0*d", 1 + i % 300, i);
         printf "SET check:s:%d %s\n", i, v;
         if (i % 10 == 0) printf "HSET check:h:%d f1 %d f2 %s\n", i, i * 3, v;
         if (i % 25 == 0) printf "RPUSH check:l:%d a%d b%d c%d\n", i, i, i, i } }' > load.txt
  timeout 60 redis-cli -p "$port" --pipe < load.txt > pipe.out 2>&1 || status=1
  awk 'BEGIN { for (i = 0; i < 20000; i++) {
         printf "GET check:s:%d\n", i;
         if (i % 10 == 0) printf "HGET check:h:%d f1\nHGET check:h:%d f2\n", i, i;
         if (i % 25 == 0) printf "LRANGE check:l:%d 0 -1\n", i } }' > read.txt
  timeout 60 redis-cli -p "$port" < read.txt > got.txt || status=1
  awk 'BEGIN { for (i = 0; i < 20000; i++) {
         v = sprintf("%0*d", 1 + i % 300, i); print v;
         if (i % 10 == 0) { print i * 3; print v }
         if (i % 25 == 0) { print "a" i; print "b" i; print "c" i } } }' > expected.txt
  if cmp -s got.txt expected.txt; then
    echo "read back $(wc -l < got.txt) values: all as written"
  else
    echo "read-back differs from what was written:"; diff expected.txt got.txt | head -5; status=1
  fi
  redis-cli -p "$port" eval "return #redis.call('keys', 'check:*')" 0
  redis-cli -p "$port" shutdown nosave > /dev/null 2>&1
  wait "$pid" || true   # redis exits 0 on SHUTDOWN; timeout's 124 is caught by the read-back
  return "$status"
}

# ---- the harness ---------------------------------------------------------------

all_checks="cpython sqlite git perl gxx xz zstd sort redis"
checks=${PYM_PROGRAMS:-$all_checks}
rm -rf "$work" && mkdir -p "$work" || exit 1
n=0 passed=0 failed=0 skipped=0
echo "1..$(echo $checks | wc -w)"

run_once() {  # run_once CHECK MODE -> exit status; output in $work/CHECK.MODE.out
  local check=$1 mode=$2 dir=$work/$1.$2
  mkdir -p "$dir"
  (
    cd "$dir" || exit 1
    [ "$mode" = preload ] && export LD_PRELOAD="$lib"
    "check_$check"
  ) > "$work/$check.$mode.out" 2> "$work/$check.$mode.err"
}

for check in $checks; do
  n=$((n + 1))
  if ! "needs_$check"; then
    echo "ok $n - $check # SKIP not installed"
    skipped=$((skipped + 1))
    continue
  fi
  start=$SECONDS
  run_once "$check" plain; plain_status=$?
  middle=$SECONDS
  run_once "$check" preload; preload_status=$?
  times="plain $((middle - start)) s, preload $((SECONDS - middle)) s"
  why=
  [ "$plain_status" -eq 0 ] || why="exit $plain_status without the preload"
  [ "$preload_status" -eq 0 ] || why="${why:+$why; }exit $preload_status with the preload"
  if [ -z "$why" ] && ! cmp -s "$work/$check.plain.out" "$work/$check.preload.out"; then
    why="output differs"
  fi
  [ -z "$why" ] && [ ! -s "$work/$check.plain.out" ] && why="no output"
  if [ -z "$why" ]; then
    echo "ok $n - $check ($times)"
    sed 's/^/#   /' "$work/$check.preload.out" | head -${PYM_PROGRAMS_SHOW:-6}
    passed=$((passed + 1))
  else
    echo "not ok $n - $check: $why ($times)"
    diff "$work/$check.plain.out" "$work/$check.preload.out" | head -20 | sed 's/^/#   /'
    tail -5 "$work/$check.preload.err" | sed 's/^/#   stderr: /'
    failed=$((failed + 1))
  fi
done
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
