# tests/dist_env.sh: what every multi-rank training test sets, sourced from the repository root:
# the binary, Python with numpy and h5py, tests/jobs/dist.ini, one thread per rank, mpirun as root on
# a machine with fewer cores than ranks, a scratch directory removed at exit, losses LOG: the
# training log's loss lines (phase, stage, step, loss), for comparing runs as text, and mpi_prog: a
# multi-rank test program (tests/mpi_*.c) run and reported.
BUILD=${COTSNET_BUILD:-build}
BIN=${COTSNET_BIN:-bin/cotsnet}
PY=/usr/bin/python3
JOB=tests/jobs/dist.ini
export OMP_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
MPIRUN="mpirun --oversubscribe --bind-to none"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
losses() { grep -E "^(rica|head|finetune) +stage" "$1" | awk '{print $1, $2, $3, $4, $5, $6, $7}'; }
# mpi_prog NAME NP EXE ARGS...: a multi-rank test program (it prints ok / FAIL lines) on NP ranks, 60 s
# at most; its output is shown and, when it exits non-zero, a FAIL line NAME (unless it printed one)
# and its stderr. Returns its exit status.
mpi_prog() {
    _mp_name=$1 _mp_np=$2
    shift 2
    timeout -k 5 60 $MPIRUN -np "$_mp_np" "$@" >"$tmp/out" 2>"$tmp/err"
    _mp_rc=$?
    cat "$tmp/out"
    if [ "$_mp_rc" -ne 0 ]; then
        grep -q '^FAIL ' "$tmp/out" || echo "FAIL $_mp_name: exited with status $_mp_rc"
        sed 's/^/   /' "$tmp/err" | head -n 20
    fi
    return "$_mp_rc"
}
