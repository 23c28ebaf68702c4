#!/bin/bash
# slurm/train.sh: trains a cotsnet job under Slurm, one MPI rank per task, and keeps a long training
# going across time limits: checkpoint on a signal, requeue, resume.
#
#   mkdir -p runs        # Slurm does not create the output file's directory
#   sbatch slurm/train.sh jobs/X.ini [cotsnet train options...]
#   sbatch --gpus-per-task=1 --ntasks-per-node=4 --time=8:00:00 slurm/train.sh jobs/X.ini
# Options given to sbatch override the #SBATCH lines below. Paths are relative to the job's working
# directory (the submit directory unless sbatch --chdir). Each rank runs
#   $COTSNET_BIN train JOB --resume auto [options...]
#
# Protocol (docs/SLURM.md): Slurm sends SIGUSR1 to this shell 120 s (up to 180 s) before the time
# limit; the shell passes SIGUSR1 on to the ranks (through mpirun or srun); cotsnet writes a
# checkpoint at the next step and exits 85; this script then requeues the job (same job id,
# SLURM_RESTART_COUNT+1, output appended) and exits 0; the next run resumes from the checkpoint.
# SIGTERM to this shell is passed on the same way. Any other exit code ends the job with it.
#
# Environment (sbatch passes the submitter's environment on):
#   COTSNET_BIN           the program (default bin/cotsnet)
#   COTSNET_LAUNCHER      mpirun (default) or srun
#   COTSNET_MPIRUN_ARGS   extra mpirun options (e.g. "--bind-to none"), word-split
#   COTSNET_SRUN_ARGS     extra srun options, word-split; srun uses --mpi=${COTSNET_SRUN_MPI:-pmix}
#   COTSNET_SIGNAL_HOLD   at most this many seconds after the launch (default 600), a signal waits
#                         for every rank to catch it (cotsnet says so by creating $COTSNET_READY_FILE,
#                         which this script sets); after that it is passed on even without the file
#   OMP_NUM_THREADS       threads per rank (default 1)
#
# Job name (%x in the output file name):
#SBATCH --job-name=cotsnet
# One node; ask for more with sbatch --nodes=N (one rank per task on every node):
#SBATCH --nodes=1
# Ranks per node: one per GPU (add --gpus-per-task=1 at submission) or per CPU socket:
#SBATCH --ntasks-per-node=4
# Wall-clock limit of one run; a requeued run gets the same again:
#SBATCH --time=24:00:00
# SIGUSR1 to this batch shell only (B:), 120 s before the time limit, to checkpoint in time:
#SBATCH --signal=B:USR1@120
# Let the job be requeued (by this script, or by Slurm after a node failure or preemption):
#SBATCH --requeue
# Keep the output of earlier runs when the job is requeued (the default truncates):
#SBATCH --open-mode=append
# Output and errors of all runs, in runs/ of the working directory (which must exist):
#SBATCH --output=runs/%x-%j.out

set -u
pid=
got_signal=0
held=0     # a signal came during the hold: send it when the hold ends
holding=1  # not every rank catches SIGUSR1 yet (or the ranks are not launched yet)
hold=${COTSNET_SIGNAL_HOLD:-600}
# The trap comes first, so that no signal finds this shell without it (it would end the job). It runs
# when Slurm (or scancel --batch) signals this shell: the ranks get SIGUSR1 at once, or, when it
# comes before every rank catches it, once they all do: cotsnet's rank 0 creates $COTSNET_READY_FILE
# after a barrier that every rank reaches with its handlers set. Before then a rank could die of the
# signal, or mpirun might not have started it (it would drop the signal).
# shellcheck disable=SC2317
forward() {
    got_signal=1
    if [ "$holding" = 1 ]; then
        held=1
        echo "train.sh: $(date '+%F %T') got SIG$1; sending SIGUSR1 to the ranks once they all catch it"
    else
        echo "train.sh: $(date '+%F %T') got SIG$1, sending SIGUSR1 to the ranks ($launcher pid $pid)"
        kill -USR1 "$pid" 2>/dev/null
    fi
}
trap 'forward USR1' USR1
trap 'forward TERM' TERM

if [ $# -lt 1 ]; then
    echo "usage: sbatch slurm/train.sh JOB.ini [cotsnet train options...]" >&2
    exit 2
fi
job=$1
shift
bin=${COTSNET_BIN:-bin/cotsnet}
launcher=${COTSNET_LAUNCHER:-mpirun}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

echo "train.sh: $(date '+%F %T') job ${SLURM_JOB_ID:-none} (${SLURM_JOB_NAME:-}) on ${SLURM_JOB_NODELIST:-$(hostname)}," \
     "SLURM_RESTART_COUNT=${SLURM_RESTART_COUNT:-0}, ${SLURM_NTASKS:-?} tasks, launcher $launcher"
if [ ! -f "$job" ]; then
    echo "train.sh: job file '$job' not found (in $(pwd))" >&2
    exit 2
fi
if [ ! -x "$bin" ]; then
    echo "train.sh: program '$bin' not found or not executable (in $(pwd)); build it (make) or set COTSNET_BIN" >&2
    exit 2
fi
case $bin in /*) ;; *) bin=$(pwd)/$bin ;; esac
# Where cotsnet's rank 0 says that every rank catches signals: a fresh name for every run, in the
# working directory (rank 0 may run on another node than this script; a shared file system sees it),
# else in TMPDIR.
COTSNET_READY_FILE=$(mktemp "$(pwd)/.cotsnet-ready.XXXXXX" 2>/dev/null || mktemp "${TMPDIR:-/tmp}/cotsnet-ready.XXXXXX") ||
    { echo "train.sh: cannot create a file in $(pwd) or ${TMPDIR:-/tmp}" >&2; exit 1; }
rm -f "$COTSNET_READY_FILE"
export COTSNET_READY_FILE

# In the background: bash runs a trap only once its foreground command has ended, but it
# interrupts `wait` at once.
case $launcher in
    mpirun)
        # mpirun takes the allocation from Slurm and passes SIGUSR1 on to every rank.
        # shellcheck disable=SC2086
        mpirun ${SLURM_NTASKS:+-np "$SLURM_NTASKS"} ${COTSNET_MPIRUN_ARGS:-} \
            "$bin" train "$job" --resume auto "$@" &
        ;;
    srun)
        # srun starts one job step and passes SIGUSR1 on to every task.
        # shellcheck disable=SC2086
        srun --mpi="${COTSNET_SRUN_MPI:-pmix}" --kill-on-bad-exit=1 ${COTSNET_SRUN_ARGS:-} \
            "$bin" train "$job" --resume auto "$@" &
        ;;
    *)
        echo "train.sh: COTSNET_LAUNCHER must be mpirun or srun, not '$launcher'" >&2
        exit 2
        ;;
esac
pid=$!
# The hold: until the ranks say they catch signals (or have exited, or $hold s), a signal only sets
# `held` (a trap waits for `sleep` to end: a tenth of a second).
i=0
while [ ! -e "$COTSNET_READY_FILE" ] && [ "$i" -lt $((hold * 10)) ] && kill -0 "$pid" 2>/dev/null; do
    sleep 0.1
    i=$((i + 1))
done
holding=0
[ -e "$COTSNET_READY_FILE" ] || [ "$held" = 0 ] || ! kill -0 "$pid" 2>/dev/null ||
    echo "train.sh: $(date '+%F %T') the ranks did not say they catch signals within ${hold} s"
rm -f "$COTSNET_READY_FILE"
if [ "$held" = 1 ]; then
    echo "train.sh: $(date '+%F %T') sending the held SIGUSR1 to the ranks ($launcher pid $pid)"
    kill -USR1 "$pid" 2>/dev/null
fi

# A trapped signal ends `wait` early (status > 128): then wait again for the ranks' real exit.
while :; do
    got_signal=0
    wait "$pid"
    rc=$?
    [ "$got_signal" = 1 ] || break
done
rm -f "$COTSNET_READY_FILE" # had the ranks written it after the hold gave up
echo "train.sh: $(date '+%F %T') ranks exited with status $rc"

if [ "$rc" -eq 85 ]; then
    if [ -z "${SLURM_JOB_ID:-}" ]; then
        echo "train.sh: checkpointed; not under Slurm, so run this again to resume"
        exit 85
    fi
    echo "train.sh: checkpointed; requeueing job $SLURM_JOB_ID to resume"
    if ! scontrol requeue "$SLURM_JOB_ID"; then
        echo "train.sh: scontrol requeue $SLURM_JOB_ID failed; resubmit to resume from the checkpoint" >&2
        exit 85
    fi
    exit 0
fi
exit "$rc"
