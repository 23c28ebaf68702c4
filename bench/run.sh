#!/bin/sh
# bench/run.sh BUILD [--quick] [--no-ref] [--no-peers]: what `make bench` runs (bench/README.md).
#
# 1. makes sure the peers can run: PyTorch (python3-torch) and OpenBLAS (libopenblas0-openmp, so that
#    torch and numpy do not fall back to Debian's reference BLAS), installed with apt-get when missing
#    and we are root (the benchmark only; the tests never need them);
# 2. runs bench/peers.py on bench_ops' shapes (OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset for the peers
#    only: they slow OpenBLAS down);
# 3. runs bench_ops with the peers' times joined into its ratio columns, and prints which formulation
#    each peer ran;
# 4. runs bench_synth (the synthetic-image generator on one core, against glibc's functions).
# Threads: OMP_NUM_THREADS (default: every core), the same for us and the peers. Extra arguments may also
# come from COTSNET_BENCH_ARGS (make bench COTSNET_BENCH_ARGS=--quick). A copy of the output is kept in
# runs/bench-<date>.txt.
set -u
BUILD=${1:-build}
[ $# -gt 0 ] && shift
ARGS="$* ${COTSNET_BENCH_ARGS:-}"
QUICK=""
PEERS=1
OPS_ARGS=""
for a in $ARGS; do
    case $a in
    --quick) QUICK=--quick ;;
    --no-peers) PEERS=0 ;;
    --no-ref) OPS_ARGS="$OPS_ARGS --no-ref" ;;
    *) echo "bench/run.sh: unknown argument $a (--quick, --no-ref, --no-peers)" >&2; exit 2 ;;
    esac
done
OPS="$BUILD/bench/bench_ops"
[ -x "$OPS" ] || { echo "bench/run.sh: $OPS not built (make)" >&2; exit 1; }
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}
PY=/usr/bin/python3

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p runs
log="runs/bench-$(date +%Y%m%d-%H%M%S).txt"

if [ "$PEERS" = 1 ]; then
    need=""
    $PY -c 'import torch' 2>/dev/null || need="$need python3-torch"
    ls /usr/lib/x86_64-linux-gnu/openblas-*/libblas.so.3 >/dev/null 2>&1 || need="$need libopenblas0-openmp"
    if [ -n "$need" ]; then
        if [ "$(id -u)" = 0 ]; then
            echo "# installing$need for the peers (apt-get)"
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >"$tmp/apt.log" 2>&1 ||
                { apt-get update -qq >/dev/null 2>&1 &&
                  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >"$tmp/apt.log" 2>&1; } ||
                { echo "# apt-get install$need failed: peers limited to what is there"; tail -3 "$tmp/apt.log"; }
        else
            echo "# not root: cannot install$need; peers limited to what is there"
        fi
    fi
fi

{
    echo "# bench/run.sh: $(date -u +%Y-%m-%dT%H:%M:%SZ), load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    "$OPS" --shapes $QUICK >"$tmp/shapes" || exit 1
    if [ "$PEERS" = 1 ]; then
        env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $PY bench/peers.py "$tmp/shapes" --threads "$OMP_NUM_THREADS" \
            >"$tmp/peers" 2>"$tmp/peers.err" ||
            { echo "# bench/peers.py failed:"; sed 's/^/#   /' "$tmp/peers.err" | tail -5; }
        "$OPS" $QUICK $OPS_ARGS --peers "$tmp/peers"
    else
        "$OPS" $QUICK $OPS_ARGS
    fi
    [ -x "$BUILD/bench/bench_synth" ] && OMP_NUM_THREADS=1 "$BUILD/bench/bench_synth"
    echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
    if [ "$PEERS" = 1 ] && [ -s "$tmp/peers" ]; then
        echo "#"
        echo "# peers (bench/peers.py): versions, libraries, and the formulation that won on each shape"
        grep '^#' "$tmp/peers" | grep -v '^# *-\|^# *$\|Build settings\|CXX_FLAGS' | sed 's/^#/# peer:/'
    fi
} | tee "$log"
echo "# saved in $log"
