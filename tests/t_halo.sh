#!/bin/sh
# t_halo.sh: multi-rank tests of the MPI wall (mpi/): collectives and halo plans on grids 1x2, 2x1,
# 2x2, 2x3, 3x3 and 2 replicas of 2x2 (tests/mpi_halo.c), then three runs that must fail cleanly:
# a world size that does not match the grid, a cn_fatal on one rank, and ranks that disagree on a
# halo's batch size. Each must exit non-zero, promptly (under `timeout`), with its one clear line.
. tests/dist_env.sh # BUILD MPIRUN tmp mpi_prog, one thread per rank
EXE="$BUILD/tests/mpi_halo"
if ! command -v mpirun >/dev/null 2>&1; then
    echo "skip t_halo: mpirun not found"
    exit 0
fi
if [ ! -x "$EXE" ]; then
    echo "FAIL t_halo: $EXE not built"
    exit 1
fi
status=0

for g in "1 1 2" "1 2 1" "1 2 2" "1 2 3" "1 3 3" "2 2 2"; do
    set -- $g
    mpi_prog "halo_R$1x$2x$3" $(($1 * $2 * $3)) "$EXE" $g || status=1
done

# must_fail NAME WHY CONDITION NP ARGS...: mpi_halo on NP ranks must exit non-zero, not by the time-out
# (124, 137: a rank hung), with CONDITION (a shell test of $tmp/err) true; else FAIL NAME with WHY.
must_fail() {
    name=$1 why=$2 cond=$3 np=$4
    shift 4
    timeout -k 5 60 $MPIRUN -np "$np" "$EXE" "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && [ "$rc" -ne 137 ] && eval "$cond"; then
        echo "ok $name"
    else
        echo "FAIL $name: exit $rc, $why"
        sed 's/^/   /' "$tmp/err" | head -n 20
        status=1
    fi
}

# 1. World size 3 for a 1 x 2 x 2 grid: one error line from rank 0, non-zero exit, nobody hangs.
must_fail halo_grid_mismatch_one_error "want non-zero exit and 1 error line" \
    '[ "$(grep -c "error: process grid 1 x 2 x 2 .*needs 4 ranks but the world has 3" "$tmp/err")" -eq 1 ]' 3 1 2 2

# 2. cn_fatal on rank 1 while the others wait in a barrier: the abort hook ends every rank.
must_fail halo_fatal_ends_job "want the rank 1 error line and no rank left running (124/137: hung until timeout)" \
    'grep -q "cotsnet: rank 1: error: deliberate failure" "$tmp/err" && ! grep -q "still running" "$tmp/err"' \
    4 1 2 2 fatal

# 3. Ranks gather with different batch sizes: MPI_CHECK / the size check names the halo message.
must_fail halo_batch_mismatch_ends_job "want an error naming the halo message (124/137: hung until timeout)" \
    'grep -Eq "cotsnet: rank [0-9]: error: .*halo .*message .*grid rank" "$tmp/err" && ! grep -q "went through" "$tmp/err"' \
    4 1 2 2 badbatch
exit $status
