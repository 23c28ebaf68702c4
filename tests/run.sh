#!/bin/sh
# tests/run.sh BUILD BIN SANITIZE: runs every test and prints "N passed, N failed, N skipped".
#
# A test is a binary BUILD/tests/test_* (single process) or a script tests/t_*.sh (multi-rank, Python
# oracle, Slurm...). Each prints lines "ok NAME", "FAIL NAME: why" or "skip NAME: why"; a test that
# exits non-zero without printing a FAIL line (a crash, a time-out) counts as one failure.
# With SANITIZE=1 only the binaries run (under ASan/UBSan); the scripts need the normal build.
BUILD=${1:-build}
BIN=${2:-bin}
SANITIZE=${3:-0}
TIMEOUT=${COTSNET_TEST_TIMEOUT:-600}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
export COTSNET_BIN="$BIN/cotsnet" COTSNET_BUILD="$BUILD"
# Open MPI's own allocations are not ours: leak reports from them would drown ours.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT
pass=0; fail=0; skip=0

run_one() { # name, command...
    name=$1; shift
    out="$log/out"
    start=$(date +%s)
    timeout -k 10 "$TIMEOUT" "$@" >"$out" 2>&1
    rc=$?
    secs=$(( $(date +%s) - start ))
    p=$(grep -c '^ok ' "$out"); f=$(grep -c '^FAIL ' "$out"); s=$(grep -c '^skip ' "$out")
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1
        echo "FAIL $name: exited with status $rc" >>"$out"
    fi
    if [ "$f" -gt 0 ]; then
        echo "== $name: $p passed, $f FAILED ($secs s)"
        sed 's/^/   /' "$out" | tail -n 40
    else
        echo "== $name: $p passed, $s skipped ($secs s)"
        grep '^skip ' "$out" | sed 's/^/   /'
    fi
    pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
}

only=${COTSNET_TESTS:-}
for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    n=$(basename "$t")
    [ -n "$only" ] && ! echo "$n" | grep -Eq "$only" && continue
    run_one "$n" "$t"
done
if [ "$SANITIZE" != 1 ]; then
    for t in tests/t_*.sh; do
        [ -f "$t" ] || continue
        n=$(basename "$t" .sh)
        [ -n "$only" ] && ! echo "$n" | grep -Eq "$only" && continue
        run_one "$n" sh "$t"
    done
fi
if [ "$skip" -gt 0 ]; then
    echo "$pass passed, $fail failed, $skip skipped"
else
    echo "$pass passed, $fail failed"
fi
[ "$fail" -eq 0 ]
