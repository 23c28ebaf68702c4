#!/bin/sh
# t_jobpass.sh: bench_ops --job (bench/jobpass.h) and perfmodel.py --rates, on tests/jobs/dist.ini (two
# stages, LCN, stride 2, a separate decoder):
#   jobpass_shapes: on a 2x2 grid, 20 pass lines (10 per stage), every check a number within 1e-5 (the
#       host optimizer is the reference itself: "-"), rank (0,0), and each stage's input window and
#       output tile those of `cotsnet info --params --grid 2x2` (the engine's net_geometry); 19 fields,
#       and in each stage one factor from every pass's own median (alone) to its share of the median
#       sequence (ms);
#   jobpass_bad_grid: a grid too fine for the maps: one error line, non-zero exit, no pass line;
#   perfmodel_rates: a one-rank training of the job, then `perfmodel.py cpu --rates` with the 1x1 log:
#       its per-shape model of each stage equals the log's own "RICA step" sum (the passes composed as
#       the step runs them: the stage's nine, the forward of the stages before it); `perfmodel.py gpu
#       --rates` on the same run: the same compute plus the modelled halo (under 0.01 ms here);
#   perfmodel_rates_refuses: a log with a failed check ("!") or a truncated pass line is refused.
BIN=${COTSNET_BIN:-bin/cotsnet}
BUILD=${COTSNET_BUILD:-build}
BENCH=$BUILD/bench/bench_ops
JOB=tests/jobs/dist.ini
PY=/usr/bin/python3
export OMP_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
if [ ! -x "$BENCH" ] || [ ! -x "$BIN" ] || [ ! -x "$PY" ]; then
    echo "FAIL jobpass: $BENCH, $BIN or $PY missing"
    exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# the passes on the slowest rank of 2x2, against the engine's geometry
timeout 60 "$BENCH" --job $JOB --grid 2x2 --reps 1 >"$tmp/b22.log" 2>&1
rc=$?
rows=$(grep -c '^pass ' "$tmp/b22.log")
checked=$(awk '$1 == "pass" && $16 ~ /^[0-9][0-9.e+-]*$/ && $16 + 0 <= 1e-5' "$tmp/b22.log" | wc -l)
unchecked=$(awk '$1 == "pass" && $16 == "-"' "$tmp/b22.log" | awk '$3 == "optim"' | wc -l)
# ms = alone x (one factor per stage: the median sequence over the sum of the passes' own medians)
scaled=$(awk '$1 == "pass" {if (NF != 19) bad++; else if ($19 > 0.002) {r = $17 / $19; if (!($2 in lo) || r < lo[$2]) lo[$2] = r;
                if (!($2 in hi) || r > hi[$2]) hi[$2] = r}}
              END {for (k in lo) if (hi[k] > lo[k] * 1.05 + 0.002 || lo[k] <= 0) bad++; print bad ? "DIFF" : "OK"}' "$tmp/b22.log")
"$BIN" info --params $JOB --grid 2x2 >"$tmp/info" 2>&1
want=$(grep -E 'x tile .*window' "$tmp/info" | sed -E 's/.*window ([0-9]+)x([0-9]+); y tile ([0-9]+)x([0-9]+).*/\1 \2 \3 \4/')
got=$(awk '$1 == "pass" && $3 == "lf_encode" {print $5, $6, $8, $9}' "$tmp/b22.log")
if [ $rc -eq 0 ] && [ "$rows" -eq 20 ] && [ "$checked" -eq 18 ] && [ "$unchecked" -eq 2 ] &&
    grep -q 'grid rank (0,0)' "$tmp/b22.log" && grep -q 'grid rank 0 (row 0, column 0)' "$tmp/info" &&
    [ -n "$want" ] && [ "$want" = "$got" ] && [ "$scaled" = OK ]; then
    echo "ok jobpass_shapes (windows and tiles: $(echo "$got" | tr '\n' ';'))"
else
    echo "FAIL jobpass_shapes: rc $rc, $rows pass lines, $checked checked ok, $unchecked optim unchecked, ms/alone $scaled;" \
        "bench: $(echo "$got" | tr '\n' ';') info: $(echo "$want" | tr '\n' ';')"
    sed 's/^/   /' "$tmp/b22.log" | tail -n 5
fi

timeout 60 "$BENCH" --job $JOB --grid 30x30 >"$tmp/bad.out" 2>"$tmp/bad.err"
rc=$?
if [ $rc -ne 0 ] && [ $rc -lt 124 ] && [ "$(wc -l <"$tmp/bad.err")" -eq 1 ] && grep -q 'largest grid that fits' "$tmp/bad.err" &&
    ! grep -q '^pass ' "$tmp/bad.out"; then
    echo "ok jobpass_bad_grid"
else
    echo "FAIL jobpass_bad_grid: rc $rc: $(head -c 300 "$tmp/bad.err")"
fi

# the model's composition of the passes: a one-rank run, the 1x1 log
timeout 60 "$BENCH" --job $JOB --grid 1x1 --reps 1 >"$tmp/b11.log" 2>&1 || { echo "FAIL perfmodel_rates: bench_ops --job failed"; exit 1; }
if ! timeout 120 "$BIN" train $JOB --set stage1.steps=6 --set stage2.steps=6 --set run.log_every=2 \
    --set train.head_steps=0 --set train.finetune_steps=0 --set data.test= --set checkpoint.every=-1 \
    --set grid.rows=1 --set grid.cols=1 --set run.out_dir="$tmp/run" >"$tmp/train.log" 2>&1; then
    echo "FAIL perfmodel_rates: training failed: $(tail -2 "$tmp/train.log")"
    exit 1
fi
"$PY" bench/perfmodel.py cpu --rate 10 --rates "$tmp/b11.log" --run dist=$JOB,"$tmp/run" --json "$tmp/pm.json" \
    >"$tmp/pm.txt" 2>&1
rc=$?
# stage k: the model's per-shape compute against the log's "RICA step" sum of its (rounded) pass lines
cmp=$("$PY" - "$tmp/b11.log" "$tmp/pm.json" <<'EOF'
import json, sys
want = {int(l.split()[2].rstrip(":")): float(l.split()[8]) for l in open(sys.argv[1]) if l.startswith("# stage ")}
rows = json.load(open(sys.argv[2]))["cpu_errors"]["rows"]
got = {r["stage"]: r["shapes"] * 1e3 for r in rows if r["run"] == "dist"}
ok = sorted(got) == sorted(want) == [1, 2] and all(abs(got[k] - want[k]) <= 6e-4 for k in want)
print("; ".join(f"stage {k} {got.get(k, 0):.4f} vs {want[k]:.4f} ms" for k in sorted(want)), "OK" if ok else "DIFF")
EOF
)
# the GPU validation's per-shape column takes the same compute (plus the modelled halo, here the local copies)
"$PY" bench/perfmodel.py gpu --rates "$tmp/b11.log" --run dist=$JOB,"$tmp/run" >"$tmp/pmg.txt" 2>&1
rcg=$?
gcmp=$(awk 'FNR == 1 {f++} f == 1 && $1 == "dist" {c[$2] = $7} f == 2 && $1 == "dist" {n++; if ($7 < c[$2] || $7 > c[$2] + 0.01) bad++}
            END {print (n == 2 && !bad) ? "OK" : "DIFF"}' "$tmp/pm.txt" "$tmp/pmg.txt")
if [ $rc -eq 0 ] && echo "$cmp" | grep -q 'OK$' && [ $rcg -eq 0 ] && [ "$gcmp" = OK ]; then
    echo "ok perfmodel_rates ($cmp; gpu --rates too)"
else
    echo "FAIL perfmodel_rates: rc $rc: $cmp; gpu --rates: rc $rcg, $gcmp"
    sed 's/^/   /' "$tmp/pm.txt" "$tmp/pmg.txt" | tail -n 12
fi

sed '0,/^pass  1 lf_decode/s/^\(pass  1 lf_decode.*\) [0-9]e-[0-9][0-9] /\1 3e-02! /' "$tmp/b11.log" >"$tmp/bang.log"
awk '$1 == "pass" && $3 == "lf_error" {NF = 10} {print}' "$tmp/b11.log" >"$tmp/short.log"
"$PY" bench/perfmodel.py cpu --rate 10 --rates "$tmp/bang.log" --run dist=$JOB,"$tmp/run" >"$tmp/bang.out" 2>&1
rc1=$?
"$PY" bench/perfmodel.py cpu --rate 10 --rates "$tmp/short.log" --run dist=$JOB,"$tmp/run" >"$tmp/short.out" 2>&1
rc2=$?
if grep -q '3e-02!' "$tmp/bang.log" && [ $rc1 -ne 0 ] && grep -q 'failed its check' "$tmp/bang.out" &&
    [ $rc2 -ne 0 ] && grep -q 'not 19' "$tmp/short.out"; then
    echo "ok perfmodel_rates_refuses"
else
    echo "FAIL perfmodel_rates_refuses: rc $rc1, $rc2: $(tail -1 "$tmp/bang.out") / $(tail -1 "$tmp/short.out")"
fi
