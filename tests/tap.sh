# tap.sh -- sourced by the sh tests of options, the pymalloc command and
# installation: a scratch directory $tmp (removed at exit), an environment
# without PYMALLOC_* variables or LD_PRELOAD (only what a case sets may
# reach the library), and TAP output.  Set tap_name first (it names the
# scratch directory).
#   check NAME 'shell condition'   ok or not ok (then $tmp/out and
#                                  $tmp/err follow as TAP comments)
#   run [VAR=value...] PROGRAM...  stdout to $tmp/out, stderr to $tmp/err,
#                                  exit status in $status; killed after
#                                  $tap_timeout seconds (default 120)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pym-${tap_name:-test}.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
for name in $(env | sed -n 's/^\(PYMALLOC_[A-Za-z0-9_]*\)=.*/\1/p'); do unset "$name"; done
unset LD_PRELOAD

n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $1"; sed 's/^/#   /' "$tmp/out" "$tmp/err"; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
check() { if eval "$2"; then ok "$1"; else not_ok "$1"; fi; }
run() { timeout "${tap_timeout:-120}" env "$@" >"$tmp/out" 2>"$tmp/err"; status=$?; }
lines() { wc -l <"$1" | tr -d ' '; }
