#!/bin/sh
# bench/overlap.sh [JOB] [NP]: train the same job with and without overlapping the halo exchange with the
# tile's interior, and print per step: step time, time blocked on halos, halo bytes sent by rank 0.
# One OpenMP thread per rank. Default: bench/jobs/overlap.ini on 2 ranks (1x2).
JOB=${1:-bench/jobs/overlap.ini}
NP=${2:-2}
BIN=${COTSNET_BIN:-bin/cotsnet}
export OMP_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
printf '# overlap benchmark: %s on %s ranks, %s\n' "$JOB" "$NP" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
printf '# %-8s %10s %13s %10s %14s %16s %14s\n' overlap step_ms halo_wait_ms halo_share lf_in_wait_ms interior_ms halo_MB_step
# lf_in_wait: blocked at the end of the filter-input exchange (the one overlapped); interior: compute done
# while it was in flight (0 without overlap)
for ov in no yes no yes; do
    mpirun --oversubscribe --bind-to none -np "$NP" "$BIN" train "$JOB" --set grid.overlap=$ov \
        --set run.out_dir="$tmp/$ov" > "$tmp/$ov.log" 2>&1 || { echo "run failed:"; tail -5 "$tmp/$ov.log"; exit 1; }
    /usr/bin/python3 - "$tmp/$ov/metrics.jsonl" "$ov" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if '"step_s"' in l][1:]  # drop the first (warm-up) interval
s = sum(r["step_s"] for r in rows) / len(rows)
h = sum(r["halo_wait_s"] for r in rows) / len(rows)
b = sum(r["halo_bytes_per_step"] for r in rows) / len(rows)
w = sum(r["overlap_wait_s"] for r in rows) / len(rows)
i = sum(r["overlap_interior_s"] for r in rows) / len(rows)
print(f"  {sys.argv[2]:<8} {s*1e3:10.2f} {h*1e3:13.3f} {h/s:10.1%} {w*1e3:14.3f} {i*1e3:16.2f} {b/1e6:14.3f}")
PY
    rm -rf "$tmp/$ov"
done
