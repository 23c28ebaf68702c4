#!/bin/sh
# t_perfgeom.sh: bench/perfgeom.py (the performance model's twin of src/net.c's tiles, windows and halo
# plans) predicts the engine's halo traffic to the byte. tests/jobs/dist.ini (two stages, LCN, uneven
# tiles, halos two tiles wide on 3x3) trains 2 reconstruction-ICA steps per stage on grids 1x2, 2x2 and
# 3x3; every metrics line's halo_bytes_per_step (rank 0) must equal perfgeom.metric_halo_bytes.
# perfmodel_average_every: the model's all-reduce term under grid.average_every = 4 is a quarter of
# every step's, nothing else moves, one replica has none. perfmodel_oversubscribed: below.
BIN=${COTSNET_BIN:-bin/cotsnet}
JOB=tests/jobs/dist.ini
PY=/usr/bin/python3
export OMP_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
if ! command -v mpirun >/dev/null 2>&1; then
    echo "skip perfgeom_halo_bytes: mpirun not found"
    exit 0
fi
if [ ! -x "$BIN" ] || [ ! -x "$PY" ]; then
    echo "FAIL perfgeom_halo_bytes: $BIN or $PY missing"
    exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
for g in "1 2" "2 2" "3 3"; do
    set -- $g
    name="perfgeom_halo_bytes_$1x$2"
    if ! timeout -k 5 120 mpirun --oversubscribe -np $(($1 * $2)) "$BIN" train "$JOB" --set grid.rows="$1" \
        --set grid.cols="$2" --set stage1.steps=2 --set stage2.steps=2 --set train.head_steps=0 \
        --set train.finetune_steps=0 --set run.log_every=1 --set data.test= --set run.out_dir="$tmp/$1x$2" \
        >"$tmp/log" 2>&1; then
        echo "FAIL $name: training failed"
        sed 's/^/   /' "$tmp/log" | tail -n 5
        status=1
        continue
    fi
    $PY - "$tmp/$1x$2/metrics.jsonl" "$JOB" "$1" "$2" "$name" <<'EOF' || status=1
import json, sys
sys.path.insert(0, "bench")
import perfgeom as pg
path, job, Py, Px, name = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
lay = pg.read_job(job)
st = pg.stage_geometry(lay)
rows = [json.loads(l) for l in open(path) if '"step_s"' in l and '"rica"' in l]
bad = []
for r in rows:
    want = pg.metric_halo_bytes(st, r["stage"] - 1, Py, Px, 0, 0, lay["batch"])
    if abs(want - r["halo_bytes_per_step"]) > 0.5:
        bad.append(f"stage {r['stage']} step {r['step']}: engine {r['halo_bytes_per_step']:.0f}, model {want}")
if not rows:
    print(f"FAIL {name}: no reconstruction-ICA metrics lines")
    sys.exit(1)
if bad:
    print(f"FAIL {name}: " + "; ".join(bad[:3]))
    sys.exit(1)
print(f"ok {name}")
EOF
done
# grid.average_every = k in the model: the all-reduce term of a replicated step is divided by k (read
# from the job file as the engine reads it), nothing else changes, and one replica has no all-reduce
$PY - <<'PYEOF'
import sys
sys.path.insert(0, "bench")
import perfgeom as pg, perfmodel as pm
hw = pm.gpu_hw({})
lay = pg.read_job("tests/jobs/dist.ini")
a = pm.step_time(dict(lay, average_every=1), 0, 1, 2, 4, hw, pm.NETS["ndr"])
b = pm.step_time(dict(lay, average_every=4), 0, 1, 2, 4, hw, pm.NETS["ndr"])
c = pm.step_time(dict(lay, average_every=4), 0, 1, 2, 1, hw, pm.NETS["ndr"])
ok = (a["allreduce"] > 0 and abs(b["allreduce"] * 4 - a["allreduce"]) <= 1e-12 * a["allreduce"] + 1e-18
      and abs(a["compute"] - b["compute"]) < 1e-15 and abs(a["halo"] - b["halo"]) < 1e-15 and c["allreduce"] == 0
      and lay.get("average_every") == 1)
print(f"ok perfmodel_average_every (all-reduce {a['allreduce'] * 1e6:.2f} us -> {b['allreduce'] * 1e6:.2f} us at k = 4)"
      if ok else f"FAIL perfmodel_average_every: k=1 {a}, k=4 {b}, R=1 {c}")
PYEOF
[ $? -eq 0 ] || status=1
# perfmodel_oversubscribed: validate's calibration on a round made by the model itself (known rate,
# I/O cost, all-reduce skew and wait per queued rank): it must find those constants and predict every
# run of the round exactly (the wait calibrated on grid4: a whole number of turns), 3 ranks on 2 cores
# costing two turns as 4 do; a wrong count of the synchronisations per step, or the wait charged once
# per turn, fails it
$PY - "$tmp" <<'PYEOF'
import json, os, sys
sys.path.insert(0, "bench")
import perfgeom as pg, perfmodel as pm
d = sys.argv[1] + "/round"
os.makedirs(d)
net = {"name": "made up", "kind": "fitted", "gather": {"alpha": 3e-6, "beta": 5e9, "copy": 3e10},
       "scatter": {"alpha": 6e-6, "beta": 4e9, "copy": 1e10}, "ar_alpha": 3e-7, "ar_beta": 4e9}
truth = {"rate": 5e10, "io_per_float": 5e-8, "skew": 1e-4, "sched": 1.5e-4}
job, T, cores, runs = "bench/jobs/weak.ini", 16, 2, []
r_field = pg.stage_geometry(pg.read_job(job))[0]["r"]
for name, R, Py, Px in (("grid1", 1, 1, 1), ("grid2", 1, 1, 2), ("grid3", 1, 1, 3), ("grid4", 1, 2, 2),
                        ("grid6", 1, 2, 3), ("repl2", 2, 1, 1), ("repl3", 3, 1, 1), ("repl8", 8, 1, 1)):
    run = {"name": name, "ranks": R * Py * Px, "replicas": R, "rows": Py, "cols": Px, "cores": cores,
           "height": T * Py + r_field - 1, "width": T * Px + r_field - 1, "load_before": 0.0}
    m = pm.step_time(pm.run_layout(job, run), 0, Py, Px, R, None, net, truth, pm.turns_of(run), None,
                     pm.queue_of(run))
    run.update(step_s=m["step"], compute_s=m["compute"], io_wait_s=m["io"], halo_wait_s=m["halo"],
               allreduce_s=m["allreduce"], halo_bytes_per_step=m["rank0"]["halo_bytes_metric"])
    runs.append(run)
json.dump(runs, open(d + "/summary.json", "w"))
out, calib = pm.validate(d, net, job, quiet=True)
bad = [f"{k} {calib[k]:.6g} (made with {truth[k]:.6g})" for k in truth if abs(calib[k] / truth[k] - 1) > 1e-9]
bad += [f"{v['run']} error {100 * v['err']:+.3g}%" for v in out if abs(v["err"]) > 1e-9 or not v["bytes_ok"]]
turns = [pm.turns_of({"ranks": n, "cores": 2}) for n in (1, 2, 3, 4, 5)]
if turns != [1, 1, 2, 2, 3] or pm.queue_of({"ranks": 3, "cores": 2}) != 0.5:
    bad.append(f"turns of 1..5 ranks on 2 cores {turns}")
if calib.get("sched_run") != "grid4":
    bad.append(f"wait per queued rank calibrated on {calib.get('sched_run')}, not grid4")
print("FAIL perfmodel_oversubscribed: " + "; ".join(bad) if bad else
      f"ok perfmodel_oversubscribed (constants recovered, {len(out)} runs exact)")
sys.exit(1 if bad else 0)
PYEOF
[ $? -eq 0 ] || status=1
exit $status
