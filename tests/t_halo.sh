#!/bin/sh
# t_halo.sh: multi-rank tests of the MPI wall (mpi/): collectives and halo plans on grids 1x2, 2x1,
# 2x2, 2x3, 3x3 and 2 replicas of 2x2 (tests/mpi_halo.c), then three runs that must fail cleanly:
# a world size that does not match the grid, a cn_fatal on one rank, and ranks that disagree on a
# halo's batch size. Each must exit non-zero, promptly (under `timeout`), with its one clear line.
BUILD=${COTSNET_BUILD:-build}
EXE="$BUILD/tests/mpi_halo"
export OMP_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
if ! command -v mpirun >/dev/null 2>&1; then
    echo "skip t_halo: mpirun not found"
    exit 0
fi
if [ ! -x "$EXE" ]; then
    echo "FAIL t_halo: $EXE not built"
    exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
mpi() { # np, args...
    np=$1; shift
    timeout -k 5 60 mpirun --oversubscribe -np "$np" "$EXE" "$@"
}

for g in "1 1 2" "1 2 1" "1 2 2" "1 2 3" "1 3 3" "2 2 2"; do
    set -- $g
    np=$(($1 * $2 * $3))
    mpi "$np" $g >"$tmp/out" 2>"$tmp/err"
    rc=$?
    cat "$tmp/out"
    if [ "$rc" -ne 0 ]; then
        status=1
        grep -q '^FAIL ' "$tmp/out" || echo "FAIL halo_R$1x$2x$3: exited with status $rc"
        sed 's/^/   /' "$tmp/err" | head -n 20
    fi
done

# 1. World size 3 for a 1 x 2 x 2 grid: one error line from rank 0, non-zero exit, nobody hangs.
mpi 3 1 2 2 >"$tmp/out" 2>"$tmp/err"
rc=$?
n=$(grep -c 'error: process grid 1 x 2 x 2 .*needs 4 ranks but the world has 3' "$tmp/err")
if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && [ "$rc" -ne 137 ] && [ "$n" -eq 1 ]; then
    echo "ok halo_grid_mismatch_one_error"
else
    echo "FAIL halo_grid_mismatch_one_error: exit $rc, $n error lines (want non-zero exit, 1 line)"
    sed 's/^/   /' "$tmp/err" | head -n 20
    status=1
fi

# 2. cn_fatal on rank 1 while the others wait in a barrier: the abort hook ends every rank.
mpi 4 1 2 2 fatal >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && [ "$rc" -ne 137 ] &&
    grep -q 'cotsnet: rank 1: error: deliberate failure' "$tmp/err" && ! grep -q 'still running' "$tmp/err"; then
    echo "ok halo_fatal_ends_job"
else
    echo "FAIL halo_fatal_ends_job: exit $rc (124/137: hung until timeout)"
    sed 's/^/   /' "$tmp/err" | head -n 20
    status=1
fi

# 3. Ranks gather with different batch sizes: MPI_CHECK / the size check names the halo message.
mpi 4 1 2 2 badbatch >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && [ "$rc" -ne 137 ] &&
    grep -Eq 'cotsnet: rank [0-9]: error: .*halo .*message .*grid rank' "$tmp/err" &&
    ! grep -q 'went through' "$tmp/err"; then
    echo "ok halo_batch_mismatch_ends_job"
else
    echo "FAIL halo_batch_mismatch_ends_job: exit $rc (124/137: hung until timeout)"
    sed 's/^/   /' "$tmp/err" | head -n 20
    status=1
fi
exit $status
