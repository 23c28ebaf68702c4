#!/bin/sh
# bench/weak_scaling.sh [--job JOB] [--tile T] [--ranks "1 2 4 8"] [--replicas "1 2 4"] [--repeat K]
#                       [--out DIR] [--no-plot] [--no-report]
# Weak scaling of training (bench/README.md): the same per-rank problem on more ranks.
#
#  1. grid series: 1, 2, 4, 8 ranks on grids 1x1, 1x2, 2x2, 2x4 (also 3, 6, 12, 16, 32, 64: 1x3, 2x3, 3x4,
#     4x4, 4x8, 8x8); the maps grow with the grid: input
#     rows = T x Py + field - 1 (columns: T x Px + field - 1), so every rank's filter-output tile is
#     exactly T x T (the filter output is where the compute is);
#  2. replica series: the 1x1 problem on 1, 2, 4 replicas (each its own batch; gradients averaged).
# One OpenMP thread per rank; synthetic data; RICA steps of bench/jobs/weak.ini overridden with --set.
# Each run's metrics.jsonl (rank 0's timers per progress interval) goes to DIR/<run>/ with the load
# average before the run; bench/weak_scaling.py prints the table (first interval dropped, medians
# over the rest), writes DIR/summary.json and DIR/weak_scaling.png. --repeat K runs each
# configuration K times (the runs interleaved; the repetition with the median step time is reported).
# Runs with more ranks than cores are oversubscribed: the table says so.
# Environment: COTSNET_BIN (bin/cotsnet); COTSNET_LAUNCH, the launcher before the rank count (default
# "mpirun --oversubscribe --bind-to none -np"; slurm/weak_scaling.sh uses srun); COTSNET_CORES, the
# cores (or GPUs) the runs have (default: this machine's cores). --no-report: runs only (the Slurm
# array tasks), no table.
set -u
JOB=bench/jobs/weak.ini
T=16
RANKS="1 2 4 8"
REPLICAS="1 2 4"
REPEAT=1
OUT=runs/weak-$(date +%Y%m%d-%H%M%S)
PLOT=1
REPORT=1
LAUNCH=${COTSNET_LAUNCH:-mpirun --oversubscribe --bind-to none -np}
CORES=${COTSNET_CORES:-$(getconf _NPROCESSORS_ONLN)}
BIN=${COTSNET_BIN:-bin/cotsnet}
PY=/usr/bin/python3
while [ $# -gt 0 ]; do
    case $1 in
    --job) JOB=$2; shift ;;
    --tile) T=$2; shift ;;
    --ranks) RANKS=$2; shift ;;
    --replicas) REPLICAS=$2; shift ;;
    --repeat) REPEAT=$2; shift ;;
    --out) OUT=$2; shift ;;
    --no-plot) PLOT=0 ;;
    --no-report) REPORT=0; PLOT=0 ;;
    *) echo "weak_scaling.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
[ -x "$BIN" ] || { echo "weak_scaling.sh: $BIN not built (make)" >&2; exit 1; }
export OMP_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$OUT"
R_FIELD=$(awk -F= '/^\[stage1\]/{s=1;next} /^\[/{s=0} s&&$1~/^ *field *$/{gsub(/ /,"",$2);print $2}' "$JOB")
[ -n "$R_FIELD" ] || { echo "weak_scaling.sh: no [stage1] field in $JOB" >&2; exit 1; }

# the matplotlib plot is part of the benchmark (never of the tests): install it when missing
if [ "$PLOT" = 1 ] && ! $PY -c 'import matplotlib' 2>/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "# installing python3-matplotlib (apt-get) for the plot"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-matplotlib >/dev/null 2>&1 ||
            { apt-get update -qq >/dev/null 2>&1 &&
              DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-matplotlib >/dev/null 2>&1; } ||
            echo "# apt-get install python3-matplotlib failed: no plot"
    else
        echo "# python3-matplotlib missing and not root: no plot"
    fi
fi

grid_of() { # ranks -> "Py Px"
    case $1 in
    1) echo "1 1" ;; 2) echo "1 2" ;; 3) echo "1 3" ;; 4) echo "2 2" ;; 6) echo "2 3" ;; 8) echo "2 4" ;;
    12) echo "3 4" ;; 16) echo "4 4" ;; 32) echo "4 8" ;; 64) echo "8 8" ;; *) echo "" ;;
    esac
}

run() { # name np R Py Px
    name=$1 np=$2 R=$3 Py=$4 Px=$5
    H=$((T * Py + R_FIELD - 1)) W=$((T * Px + R_FIELD - 1))
    dir="$OUT/$name.$rep"
    rm -rf "$dir"
    mkdir -p "$dir"
    load=$(cut -d' ' -f1 /proc/loadavg)
    t0=$(date +%s.%N)
    # shellcheck disable=SC2086
    $LAUNCH "$np" "$BIN" train "$JOB" --set grid.replicas="$R" \
        --set grid.rows="$Py" --set grid.cols="$Px" --set data.height="$H" --set data.width="$W" \
        --set run.out_dir="$dir" >"$dir/log" 2>&1 ||
        { echo "run $name failed:"; tail -5 "$dir/log"; exit 1; }
    t1=$(date +%s.%N)
    printf '{"name":"%s","rep":%d,"ranks":%d,"replicas":%d,"rows":%d,"cols":%d,"height":%d,"width":%d,"tile":%d,"cores":%d,"load_before":%s,"load_after":%s,"wall_s":%s}\n' \
        "$name" "$rep" "$np" "$R" "$Py" "$Px" "$H" "$W" "$T" "$CORES" "$load" "$(cut -d' ' -f1 /proc/loadavg)" \
        "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')" >"$dir/run.json"
    rm -rf "$dir/ckpt" "$dir/filters.png"
    printf '# %-10s %3d ranks (%d x %dx%d), maps %dx%d, load %s: done\n' "$name" "$np" "$R" "$Py" "$Px" "$H" "$W" "$load"
}

echo "# weak scaling: $JOB, tile $T, $CORES cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "# $(uptime)"
rep=0
while [ "$rep" -lt "$REPEAT" ]; do
    for n in $RANKS; do
        g=$(grid_of "$n")
        [ -n "$g" ] || { echo "weak_scaling.sh: no grid for $n ranks" >&2; exit 2; }
        set -- $g
        run "grid$n" "$n" 1 "$1" "$2"
    done
    for r in $REPLICAS; do
        [ "$r" = 1 ] && continue # the 1x1 run of the grid series
        run "repl$r" "$r" "$r" 1 1
    done
    rep=$((rep + 1))
done
echo "# $(uptime)"
[ "$REPORT" = 1 ] || exit 0
args=""
[ "$PLOT" = 1 ] || args="--no-plot"
$PY bench/weak_scaling.py "$OUT" $args
