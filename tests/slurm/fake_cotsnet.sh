#!/bin/sh
# tests/slurm/fake_cotsnet.sh: stands in for bin/cotsnet (COTSNET_BIN) to test slurm/train.sh's
# signal and requeue protocol without training anything. One copy runs per rank.
#
#   fake_cotsnet.sh train JOB [args...]
# Keeps its state in $FAKE_STATE (a directory): run.RANK counts this rank's runs.
#   first run:  writes ready.RANK.1 (rank 0 then $COTSNET_READY_FILE, once all have), then waits (at most $FAKE_WAIT s, default 60) for SIGUSR1 or
#               SIGTERM; each one appends its name to sig.RANK.1; then it writes ckpt.RANK, waits (10 s
#               at most) for the ckpt files of all ranks, and exits 85 ("checkpointed, requeue
#               me"); without a signal it exits 3.
#   later runs: writes ready.RANK.N and exits $FAKE_EXIT (default 0).
# With FAKE_EXIT set and FAKE_FIRST=exit, the first run exits $FAKE_EXIT at once too.
# Every run prints "fake rank R run N: ARGS" so that the test can check the arguments.
state=${FAKE_STATE:?fake_cotsnet.sh: set FAKE_STATE to a directory}
rank=${OMPI_COMM_WORLD_RANK:-${PMIX_RANK:-${SLURM_PROCID:-0}}}
n=$(cat "$state/run.$rank" 2>/dev/null || echo 0)
n=$((n + 1))
echo "$n" >"$state/run.$rank"
echo "fake rank $rank run $n: $*"

got=
# Each delivery appends a line to sig.RANK.N, so the test can see how many arrived.
trap 'got=USR1; echo USR1 >>"$state/sig.$rank.$n"' USR1
trap 'got=TERM; echo TERM >>"$state/sig.$rank.$n"' TERM
: >"$state/ready.$rank.$n"
size=${OMPI_COMM_WORLD_SIZE:-${SLURM_STEP_NUM_TASKS:-${SLURM_NTASKS:-1}}}
# slurm/train.sh's hold ends when COTSNET_READY_FILE exists: like cotsnet (a barrier, then rank 0),
# rank 0 creates it once every rank of this run has its traps set
if [ -n "${COTSNET_READY_FILE:-}" ] && [ "$rank" = 0 ]; then
    i=0
    while [ "$(ls "$state"/ready.*."$n" | wc -l)" -lt "$size" ] && [ "$i" -lt 100 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    : >"$COTSNET_READY_FILE"
fi

if [ "$n" -gt 1 ] || [ "${FAKE_FIRST:-}" = exit ]; then
    exit "${FAKE_EXIT:-0}"
fi
i=0
limit=$(( ${FAKE_WAIT:-60} * 10 ))
while [ -z "$got" ] && [ "$i" -lt "$limit" ]; do
    sleep 0.1
    i=$((i + 1))
done
if [ -z "$got" ]; then
    echo "fake rank $rank: no signal after ${FAKE_WAIT:-60} s" >&2
    exit 3
fi
# Like the real checkpoint, a collective step: leave only once every rank has its signal (else
# mpirun, seeing the first exit, would SIGTERM the others in the middle of it).
: >"$state/ckpt.$rank"
i=0
while [ "$(ls "$state"/ckpt.* | wc -l)" -lt "$size" ] && [ "$i" -lt 100 ]; do
    sleep 0.1
    i=$((i + 1))
done
echo "fake rank $rank: got SIG$got, checkpointed, exit 85"
exit 85
