#!/bin/sh
# bench/default_throughput.sh [NP] [extra cotsnet train args]: training throughput of the default job.
# Runs jobs/default.ini briefly (60 RICA steps, 200 head steps, no evaluation, via --set) on NP ranks
# (default 4: the job's 2x2 grid), one OpenMP thread per rank, and prints per phase, from rank 0's
# metrics.jsonl (first progress interval of each phase dropped as warm-up, medians over the rest):
# samples/s, time per step, and the share of a step spent in compute, halo wait, all-reduce and I/O
# wait (compute = step - halo - all-reduce - I/O). Metrics are defined in bench/README.md.
set -u
NP=${1:-4}
[ $# -gt 0 ] && shift
JOB=${COTSNET_JOB:-jobs/default.ini}
BIN=${COTSNET_BIN:-bin/cotsnet}
[ -x "$BIN" ] || { echo "default_throughput.sh: $BIN not built (make)" >&2; exit 1; }
export OMP_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! ls data/fashion-mnist/train-*.h5 >/dev/null 2>&1; then
    echo "# making the Fashion-MNIST shards (data/fashion-mnist)"
    "$BIN" data fashion-mnist --out data/fashion-mnist --force >"$tmp/data.log" 2>&1 ||
        { echo "default_throughput.sh: no Fashion-MNIST shards and cannot make them:"; tail -3 "$tmp/data.log"; exit 1; }
fi
cores=$(getconf _NPROCESSORS_ONLN)
over=no
[ "$NP" -gt "$cores" ] && over="yes ($NP ranks on $cores cores: time-shared)"
echo "# default-job throughput: $JOB on $NP ranks; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $cores cores; oversubscribed: $over"
echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg)"
mpirun --oversubscribe --bind-to none -np "$NP" "$BIN" train "$JOB" --set stage1.steps=60 --set train.head_steps=200 \
    --set train.eval_every=0 --set data.test= --set run.log_every=10 --set run.out_dir="$tmp/run" "$@" \
    >"$tmp/log" 2>&1 || { echo "run failed:"; tail -5 "$tmp/log"; exit 1; }
echo "# load after:  $(cut -d' ' -f1-3 /proc/loadavg)"
grep -m1 '^job ' "$tmp/log" | sed 's/^/# /'
/usr/bin/python3 - "$tmp/run/metrics.jsonl" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if '"step_s"' in l]
phases = []
for r in rows:
    if r["phase"] not in phases:
        phases.append(r["phase"])
fmt = "%-9s %5s %10s %9s %9s %8s %8s %8s %8s %9s"
print("#" + fmt % ("phase", "steps", "samples/s", "step", "GFLOP/s", "compute", "halo", "allred", "io", "halo_MB"))
print("#" + fmt % ("", "", "", "ms", "", "%", "%", "%", "%", "/step"))
for ph in phases:
    rs = [r for r in rows if r["phase"] == ph][1:]  # first interval: warm-up
    if not rs:
        continue
    med = {k: statistics.median(r[k] for r in rs) for k in
           ("samples_per_s", "step_s", "gflops", "halo_wait_s", "allreduce_s", "io_wait_s", "halo_bytes_per_step")}
    s = med["step_s"]
    comp = s - med["halo_wait_s"] - med["allreduce_s"] - med["io_wait_s"]
    steps = rs[-1]["step"] - [r for r in rows if r["phase"] == ph][0]["step"]
    print(" " + fmt % (ph, steps, f"{med['samples_per_s']:.0f}", f"{s * 1e3:.2f}", f"{med['gflops']:.2f}",
                       f"{100 * comp / s:.1f}", f"{100 * med['halo_wait_s'] / s:.1f}",
                       f"{100 * med['allreduce_s'] / s:.1f}", f"{100 * med['io_wait_s'] / s:.1f}",
                       f"{med['halo_bytes_per_step'] / 1e6:.3f}"))
PY
