# common.sh -- sourced by the preload smoke tests (bash).
#
# Each test runs one real program scenario twice, in the same scratch
# directory path: once plainly and once with LD_PRELOAD=$PYM_LIB (exported by
# the harness), and compares stdout, stderr and exit status byte for byte.
# Comparing stderr also catches a preload that did not load at all (ld.so
# then prints "object ... cannot be preloaded" and carries on).  Each run is
# bounded by timeout(1) so a hang fails instead of blocking `make check`.
# Output is TAP; a program that is not installed is "ok N # SKIP".

set -u
: "${PYM_LIB:?PYM_LIB must name libpymalloc.so (the harness exports it)}"
RUN_TIMEOUT=${RUN_TIMEOUT:-120}

tap_count=0
tap_failed=0
tap_ok()     { tap_count=$((tap_count + 1)); echo "ok $tap_count - $1"; }
tap_not_ok() { tap_count=$((tap_count + 1)); echo "not ok $tap_count - $1"; tap_failed=1; }
tap_skip()   { tap_count=$((tap_count + 1)); echo "ok $tap_count - $1 # SKIP $2"; }
tap_check()  { if [ "$1" = 0 ]; then tap_ok "$2"; else tap_not_ok "$2"; return 1; fi; }

scratch=$(mktemp -d "${TMPDIR:-/tmp}/pym-preload.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

# have PROGRAM: 0 when PROGRAM is installed.
have() { command -v "$1" >/dev/null 2>&1; }

# run_scenario MODE FUNCTION: runs the exported bash FUNCTION in a fresh
# $scratch/run, under LD_PRELOAD when MODE is "preload"; keeps its stdout,
# stderr and exit status in $scratch/MODE.{out,err,status}.
run_scenario() {
    mode=$1 scenario=$2
    rm -rf "$scratch/run"
    mkdir "$scratch/run"
    if [ "$mode" = preload ]; then
        (cd "$scratch/run" && LD_PRELOAD="$PYM_LIB" timeout -k 5 "$RUN_TIMEOUT" bash -c "$scenario")
    else
        (cd "$scratch/run" && timeout -k 5 "$RUN_TIMEOUT" bash -c "$scenario")
    fi >"$scratch/$mode.out" 2>"$scratch/$mode.err"
    echo $? >"$scratch/$mode.status"
}

# compare_runs NAME FUNCTION: runs FUNCTION both ways and reports three TAP
# results: the plain run succeeded, the preloaded run ended the same way,
# and it printed the same bytes.
compare_runs() {
    name=$1 scenario=$2
    export -f "$scenario"
    run_scenario plain "$scenario"
    run_scenario preload "$scenario"
    plain_status=$(cat "$scratch/plain.status")
    preload_status=$(cat "$scratch/preload.status")
    tap_check "$plain_status" "$name runs without the preload"
    [ "$plain_status" = "$preload_status" ]
    tap_check $? "$name exits the same under LD_PRELOAD (status $plain_status vs $preload_status)"
    cmp -s "$scratch/plain.out" "$scratch/preload.out" \
        && cmp -s "$scratch/plain.err" "$scratch/preload.err"
    if ! tap_check $? "$name prints the same stdout and stderr under LD_PRELOAD"; then
        diff "$scratch/plain.out" "$scratch/preload.out" | head -20 | sed 's/^/# /'
        diff "$scratch/plain.err" "$scratch/preload.err" | head -20 | sed 's/^/# /'
    fi
}

# preload_test NAME PROGRAM FUNCTION: the whole test for one program.
preload_test() {
    echo "1..3"
    if ! have "$2"; then
        for check in "runs without the preload" "exits the same" "prints the same"; do
            tap_skip "$1 $check" "$2 is not installed"
        done
        return 0
    fi
    compare_runs "$1" "$3"
    return $tap_failed
}
