# tests/dist_env.sh: what every multi-rank training test sets, sourced from the repository root:
# the binary, Python with numpy and h5py, tests/jobs/dist.ini, one thread per rank, mpirun as root on
# a machine with fewer cores than ranks, a scratch directory removed at exit, and losses LOG: the
# training log's loss lines (phase, stage, step, loss), for comparing runs as text.
BUILD=${COTSNET_BUILD:-build}
BIN=${COTSNET_BIN:-bin/cotsnet}
PY=/usr/bin/python3
JOB=tests/jobs/dist.ini
export OMP_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
MPIRUN="mpirun --oversubscribe --bind-to none"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
losses() { grep -E "^(rica|head|finetune) +stage" "$1" | awk '{print $1, $2, $3, $4, $5, $6, $7}'; }
