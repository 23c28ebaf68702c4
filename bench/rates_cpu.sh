#!/bin/sh
# bench/rates_cpu.sh [--out DIR] [--jobs "name ..."] [--repeat K]: the performance model's per-shape
# rates against one-rank training on this machine (bench/PERFMODEL.md "Rates per layer shape").
#
# A round: for each job below, one after the other: the load average, `bench_ops --job` (the passes of
# every stage's step on the job's own shapes: DIR/rI/NAME/rates.txt), `cotsnet train` of the job on one
# rank (RICA steps only, logged every 5 steps: DIR/rI/NAME/metrics.jsonl), `bench_ops --job` again
# (rates_after.txt: the two bracket the training; the model takes the median, i.e. the mean, of each
# pass's two times), all on one thread; then
#   perfmodel.py cpu --calibrate weak --run NAME=JOB,DIR/rI/NAME --rates DIR/rI/NAME/rates.txt ...
# prints, per job and stage, the measured compute per step against the single-rate model (FLOPs / the
# rate calibrated on the weak run, as `perfmodel.py validate` calibrates on its 1-rank run) and against
# the sum of the measured passes (nothing calibrated on the runs): DIR/rI/table.txt. K rounds (default
# 5), then `perfmodel.py cpu-rounds` sums them up (medians over the rounds): DIR/summary.txt.
# Environment: COTSNET_BIN (bin/cotsnet), COTSNET_BUILD (build).
set -u
OUT=runs/rates-$(date +%Y%m%d-%H%M%S)
BIN=${COTSNET_BIN:-bin/cotsnet}
BENCH=${COTSNET_BUILD:-build}/bench/bench_ops
WANT=""
REPEAT=5
while [ $# -gt 0 ]; do
    case $1 in
    --out) OUT=$2; shift ;;
    --jobs) WANT=$2; shift ;;
    --repeat) REPEAT=$2; shift ;;
    *) echo "usage: sh bench/rates_cpu.sh [--out DIR] [--jobs \"weak overlap small coates tied\"] [--repeat K]"; exit 2 ;;
    esac
    shift
done
export OMP_NUM_THREADS=1
mkdir -p "$OUT" || exit 1
# name, job file, the steps of its stages (the layout is the job file's own: perfmodel reads it)
JOBS="weak:bench/jobs/weak.ini:stage1.steps=200
overlap:bench/jobs/overlap.ini:stage1.steps=40
small:jobs/synthetic-small.ini:stage1.steps=100,stage2.steps=100
coates:bench/jobs/coates-mini.ini:stage1.steps=30,stage2.steps=30,stage3.steps=30
tied:jobs/default.ini:stage1.steps=60"
round() { # DIR
    runs=""
    for spec in $JOBS; do
        name=${spec%%:*} rest=${spec#*:}
        job=${rest%%:*} steps=${rest#*:}
        [ -n "$WANT" ] && ! echo " $WANT " | grep -q " $name " && continue
        d="$1/$name"
        mkdir -p "$d"
        sets=""
        for s in $(echo "$steps" | tr ',' ' '); do sets="$sets --set $s"; done
        echo "== $name ($job): load average before: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$d/load"
        "$BENCH" --job "$job" --grid 1x1 >"$d/rates.txt" 2>&1 ||
            { echo "rates_cpu: bench_ops --job $job failed:"; tail -3 "$d/rates.txt"; exit 1; }
        # shellcheck disable=SC2086
        "$BIN" train "$job" $sets --set run.out_dir="$d" --set run.log_every=5 --set data.train=synthetic \
            --set data.test= --set train.head_steps=0 --set train.finetune_steps=0 --set checkpoint.every=-1 \
            --set grid.rows=1 --set grid.cols=1 --set grid.replicas=1 >"$d/log" 2>&1 ||
            { echo "rates_cpu: training $job failed:"; tail -3 "$d/log"; exit 1; }
        "$BENCH" --job "$job" --grid 1x1 >"$d/rates_after.txt" 2>&1 ||
            { echo "rates_cpu: bench_ops --job $job failed:"; tail -3 "$d/rates_after.txt"; exit 1; }
        grep -h '^# stage' "$d/rates.txt" "$d/rates_after.txt"
        echo "   load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$d/load"
        runs="$runs --run $name=$job,$d --rates $d/rates.txt --rates $d/rates_after.txt"
    done
    # shellcheck disable=SC2086
    /usr/bin/python3 bench/perfmodel.py cpu --calibrate weak $runs --json "$1/errors.json" | tee "$1/table.txt"
}
i=1
while [ "$i" -le "$REPEAT" ]; do
    echo "== round $i of $REPEAT"
    round "$OUT/r$i" || exit 1
    i=$((i + 1))
done
/usr/bin/python3 bench/perfmodel.py cpu-rounds "$OUT"/r*/errors.json | tee "$OUT/summary.txt"
