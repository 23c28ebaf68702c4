#!/bin/sh
# tests/t_slurm_harness.sh: starts a private one-node Slurm (tests/slurm/lib.sh), runs MPI jobs in it
# under mpirun and srun --mpi=pmix, and checks slurm/train.sh's protocol with a fake cotsnet
# (tests/slurm/fake_cotsnet.sh): SIGUSR1 reaches the ranks, exit 85 requeues the job, the requeued
# run resumes and completes, other exit codes pass through; also with the real time-limit signal
# (#SBATCH --signal=B:USR1@120 under --time=2). Stops every daemon at the end, even on failure.
# Skips only when the Slurm packages are not installed (make deps installs them).
repo=$(cd "$(dirname "$0")/.." && pwd)
. "$repo/tests/slurm/test_env.sh" # slurm_test_setup, ok, fail, show, slurm_test_down
slurm_test_setup slurm_harness t-slurm
# the fake program creates COTSNET_READY_FILE as cotsnet does; the hold's limit is only a fallback
export COTSNET_SIGNAL_HOLD=${COTSNET_SIGNAL_HOLD:-60}

if ! slurm_up "$tmp/slurm"; then
    fail slurm_up "$SLURM_WHY"
    exit 1
fi
ok "slurm_up ($(( $(date +%s) - t_start )) s, node $(sinfo -h -N -o '%N %T %c CPUs'))"

work=$tmp/work
mkdir -p "$work/runs" "$work/st_timer" "$work/st_mpirun" "$work/st_srun" "$work/st_exit" || exit 1
cd "$work" || exit 1
echo "# fake job file" >job.ini
export COTSNET_BIN="$repo/tests/slurm/fake_cotsnet.sh"
train="$repo/slurm/train.sh"

# The real time-limit signal comes from slurmctld's 30 s time-limit check: start this job first
# and let it run alongside the others (8 CPUs: 4 for it, 4 for each other job in turn).
timer_id=$(FAKE_STATE="$work/st_timer" FAKE_WAIT=75 sbatch --parsable -J timer --time=2 "$train" job.ini --extra 1)
[ -n "$timer_id" ] || fail slurm_timelimit_signal "sbatch failed"

have_pmix=0
srun --mpi=list 2>&1 | grep -qw pmix && have_pmix=1

# --- MPI hello world under mpirun and srun --mpi=pmix
cat >hello.c <<'EOF'
#include <mpi.h>
#include <stdio.h>
int main(int argc, char **argv) {
    int r, n;
    if (MPI_Init(&argc, &argv) != MPI_SUCCESS) return 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &r);
    MPI_Comm_size(MPI_COMM_WORLD, &n);
    int s = r, sum = 0;
    MPI_Allreduce(&s, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    printf("hello %d of %d sum %d\n", r, n, sum);
    MPI_Finalize();
    return 0;
}
EOF
if ! mpicc -o hello hello.c 2>hello.err; then
    fail slurm_mpi_hello "mpicc failed: $(head -n 3 hello.err)"
else
    # hello_check NAME LAUNCH: runs LAUNCH ./hello in a 4-task batch job, expects ranks 0-3 of 4.
    hello_check() {
        printf '#!/bin/sh\necho "tasks=$SLURM_NTASKS"\n%s ./hello\n' "$2" >"$1.sh"
        timeout 60 sbatch --wait -J "$1" --ntasks-per-node=4 -o "runs/$1.out" "$1.sh" >/dev/null 2>"$1.err"
        rc=$?
        got=$(grep -c '^hello [0-3] of 4 sum 6$' "runs/$1.out" 2>/dev/null)
        ranks=$(sed -n 's/^hello \([0-3]\) of 4 sum 6$/\1/p' "runs/$1.out" 2>/dev/null | sort -u | tr -d '\n')
        if [ "$rc" -ne 0 ] || [ "$got" != 4 ] || [ "$ranks" != 0123 ]; then
            fail "$1" "sbatch --wait status $rc, hello lines $got, ranks '$ranks'"
            show "$1.err"; show "runs/$1.out"
        else
            ok "$1 (4 ranks, allreduce ok)"
        fi
    }
    hello_check slurm_mpirun "mpirun -np \$SLURM_NTASKS"
    if [ "$have_pmix" = 1 ]; then
        hello_check slurm_srun_pmix "srun --mpi=pmix"
    else
        echo "skip slurm_srun_pmix: srun --mpi=list has no pmix"
    fi
fi

# --- train.sh: scancel --signal=USR1 --batch (what --signal=B:USR1@T does), exit 85, requeue
# wait_files DIR GLOB N SECONDS: until N files match DIR/GLOB
wait_files() {
    i=0
    while [ "$(ls "$1"/$2 2>/dev/null | wc -l)" -lt "$3" ]; do
        [ "$i" -ge $(( $4 * 5 )) ] && return 1
        sleep 0.2; i=$((i + 1))
    done
}
# check_requeued NAME JOBNAME ID STATE_DIR T0 LABEL: the job completed after one requeue, every rank
# got exactly one SIGUSR1 (first) in its first run and ran a second time, with the right arguments.
check_requeued() {
    out="runs/$2-$3.out"
    st=$(slurm_wait_job "$3" 60) || { fail "$1" "$SLURM_WHY"; show "$out"; return; }
    set -- "$1" "$3" "$4" "$5" "$6"
    why=
    [ "$st" = COMPLETED ] || why="$why state $st (ExitCode $(slurm_job_field "$2" ExitCode));"
    [ "$(slurm_job_field "$2" Restarts)" = 1 ] || why="$why Restarts=$(slurm_job_field "$2" Restarts), not 1;"
    for r in 0 1 2 3; do
        # (mpirun SIGTERMs the other ranks once the first has exited: a TERM may follow)
        [ "$(head -n 1 "$3/sig.$r.1" 2>/dev/null)" = USR1 ] && [ "$(grep -c USR1 "$3/sig.$r.1")" = 1 ] ||
            why="$why rank $r got '$(cat "$3/sig.$r.1" 2>/dev/null | tr '\n' ' ')', not one USR1 first;"
        [ "$(cat "$3/run.$r" 2>/dev/null)" = 2 ] || why="$why rank $r ran $(cat "$3/run.$r" 2>/dev/null) times;"
    done
    grep -q 'SLURM_RESTART_COUNT=0' "$out" || why="$why no SLURM_RESTART_COUNT=0 line;"
    grep -q 'SLURM_RESTART_COUNT=1' "$out" || why="$why no SLURM_RESTART_COUNT=1 line (output not appended?);"
    grep -q 'requeueing job' "$out" || why="$why train.sh did not requeue;"
    [ "$(grep -c '^fake rank [0-3] run 2: train job.ini --resume auto --extra 1$' "$out")" = 4 ] ||
        why="$why second run lacks 4 ranks with 'train job.ini --resume auto --extra 1';"
    if [ -n "$why" ]; then fail "$1" "$why"; show "$out"; else ok "$1 ($5 $(( $(date +%s) - $4 )) s)"; fi
}
# requeue_check NAME LAUNCHER STATE_DIR
requeue_check() {
    id=$(COTSNET_LAUNCHER=$2 FAKE_STATE=$3 FAKE_WAIT=40 sbatch --parsable -J "$1" "$train" job.ini --extra 1)
    [ -n "$id" ] || { fail "$1" "sbatch failed"; return; }
    if ! wait_files "$3" 'ready.*.1' 4 30; then
        fail "$1" "the 4 ranks did not start in 30 s (state $(slurm_job_field "$id" JobState))"
        show "runs/$1-$id.out"; scancel "$id"; return
    fi
    t0=$(date +%s)
    scancel --signal=USR1 --batch "$id"
    check_requeued "$1" "$1" "$id" "$3" "$t0" "scancel --signal=USR1 --batch; requeued run done after"
}
requeue_check slurm_requeue_mpirun mpirun "$work/st_mpirun"
if [ "$have_pmix" = 1 ]; then
    requeue_check slurm_requeue_srun srun "$work/st_srun"
else
    echo "skip slurm_requeue_srun: srun --mpi=list has no pmix"
fi

# --- train.sh: an exit code other than 85 ends the job with it, no requeue
id=$(FAKE_STATE="$work/st_exit" FAKE_FIRST=exit FAKE_EXIT=3 sbatch --parsable -J exit3 "$train" job.ini)
st=$(slurm_wait_job "$id" 30)
ec=$(slurm_job_field "$id" ExitCode)
if [ "$st" = FAILED ] && [ "$ec" = 3:0 ] && [ "$(slurm_job_field "$id" Restarts)" = 0 ]; then
    ok "slurm_exit_code (exit 3 -> FAILED 3:0, not requeued)"
else
    fail slurm_exit_code "state $st ExitCode $ec Restarts $(slurm_job_field "$id" Restarts)"
    show "runs/exit3-$id.out"
fi

# --- the real thing: --time=2 with the script's --signal=B:USR1@120 signals at once
if [ -n "$timer_id" ]; then
    check_requeued slurm_timelimit_signal timer "$timer_id" "$work/st_timer" "$t_start" \
        "--signal=B:USR1@120 under --time=2; requeued run done after"
fi

# --- stop: no daemon, no job process left
slurm_test_down slurm_down
[ "$fails" -eq 0 ]
