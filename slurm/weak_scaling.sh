#!/bin/bash
# slurm/weak_scaling.sh: bench/weak_scaling.sh on a cluster: a Slurm job array, one array task per
# configuration (rank count), and a collector job that prints the table once every task has ended.
#
#   mkdir -p runs
#   sh slurm/weak_scaling.sh submit [--ranks "1 2 4 8 16 32 64"] [--replicas "2 4 8"] [--tile T]
#                                   [--job JOB] [--out DIR] [-- extra sbatch options, e.g. --gpus-per-task=1]
#
# Array task i runs configuration i of the list "grid<N> for N in ranks, then repl<R> for R in
# replicas" (grids 1x1, 1x2, 2x2, 2x4, 4x4, 4x8, 8x8; replicas of 1x1) with --ntasks = its rank
# count. Slurm gives every task of one array the same resources, so `submit` submits each index on
# its own (sbatch --array=i --ntasks=N: SLURM_ARRAY_TASK_ID = i), all under one job name, then the
# collector with --dependency=afterany on all of them. Each task runs
#   bench/weak_scaling.sh --ranks N (or --replicas R) --no-report   with srun as the launcher,
# and the collector runs bench/weak_scaling.py DIR (table, summary.json, plot). Environment, passed
# on by sbatch: COTSNET_BIN (bin/cotsnet), COTSNET_SRUN_ARGS (extra srun options, word-split),
# COTSNET_SRUN_MPI (srun --mpi=, default pmix), OMP_NUM_THREADS (1).
#SBATCH --job-name=cotsnet-weak
#SBATCH --time=00:30:00
#SBATCH --output=runs/%x-%A_%a.out
set -u

configs() { # the configuration list: "name np R"
    for n in $WEAK_RANKS; do echo "grid$n $n 1"; done
    for r in $WEAK_REPLICAS; do [ "$r" = 1 ] || echo "repl$r $r $r"; done
}

mode=${1:-}
[ $# -gt 0 ] && shift
case $mode in
submit)
    WEAK_RANKS="1 2 4 8" WEAK_REPLICAS="2 4" WEAK_TILE=16 WEAK_JOB=bench/jobs/weak.ini
    WEAK_OUT=runs/weak-slurm-$(date +%Y%m%d-%H%M%S)
    while [ $# -gt 0 ]; do
        case $1 in
        --ranks) WEAK_RANKS=$2; shift ;;
        --replicas) WEAK_REPLICAS=$2; shift ;;
        --tile) WEAK_TILE=$2; shift ;;
        --job) WEAK_JOB=$2; shift ;;
        --out) WEAK_OUT=$2; shift ;;
        --) shift; break ;;
        *) echo "weak_scaling.sh: unknown argument $1" >&2; exit 2 ;;
        esac
        shift
    done
    export WEAK_RANKS WEAK_REPLICAS WEAK_TILE WEAK_JOB WEAK_OUT
    mkdir -p runs "$WEAK_OUT"
    ids=""
    i=0
    while read -r name np _; do
        id=$(sbatch --parsable --array="$i" --ntasks="$np" "$@" "$0" run) || exit 1
        echo "submitted $name: array task $i, $np tasks: job ${id%%;*}"
        ids="$ids:${id%%;*}"
        i=$((i + 1))
    done <<EOF
$(configs)
EOF
    id=$(sbatch --parsable --ntasks=1 --job-name=cotsnet-weak-collect --output="runs/%x-%j.out" \
        --dependency="afterany$ids" "$0" collect) ||
        exit 1
    echo "submitted the collector: job ${id%%;*}; results in $WEAK_OUT"
    ;;
run)
    : "${WEAK_RANKS:?run by submit}" "${SLURM_ARRAY_TASK_ID:?not an array task}"
    line=$(configs | sed -n "$((SLURM_ARRAY_TASK_ID + 1))p")
    [ -n "$line" ] || { echo "weak_scaling.sh: no configuration $SLURM_ARRAY_TASK_ID" >&2; exit 2; }
    set -- $line
    name=$1 np=$2 R=$3
    if [ "${SLURM_NTASKS:-0}" -lt "$np" ]; then
        echo "weak_scaling.sh: $name needs $np tasks, the allocation has ${SLURM_NTASKS:-0}" >&2
        exit 2
    fi
    export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
    export COTSNET_LAUNCH="srun --mpi=${COTSNET_SRUN_MPI:-pmix} --kill-on-bad-exit=1 ${COTSNET_SRUN_ARGS:-} -n"
    export COTSNET_CORES=$SLURM_NTASKS  # one task per core or GPU: never oversubscribed
    echo "weak_scaling.sh: $(date '+%F %T') $name ($np ranks) on ${SLURM_JOB_NODELIST:-?}"
    if [ "$R" = 1 ]; then
        exec sh bench/weak_scaling.sh --job "$WEAK_JOB" --tile "$WEAK_TILE" --ranks "$np" --replicas "" \
            --out "$WEAK_OUT" --no-report
    else
        exec sh bench/weak_scaling.sh --job "$WEAK_JOB" --tile "$WEAK_TILE" --ranks "" --replicas "$R" \
            --out "$WEAK_OUT" --no-report
    fi
    ;;
collect)
    : "${WEAK_OUT:?run by submit}"
    exec /usr/bin/python3 bench/weak_scaling.py "$WEAK_OUT"
    ;;
*)
    echo "usage: sh slurm/weak_scaling.sh submit [--ranks \"1 2 4 8\"] [--replicas \"2 4\"] [--tile T] [--job JOB] [--out DIR] [-- sbatch options]" >&2
    exit 2
    ;;
esac
