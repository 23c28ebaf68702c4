#!/bin/sh
# bench/train_cuda_check.sh BIN: training on a real GPU equals training on the CPU (bench/gpu_check.sh
# runs it on a lent GPU machine, with the cotsnet that `gpu_check.sh prepare` built here with nvcc).
# The GPU machine has no MPI, so every run is one rank (tests/t_cuda_train_emu.sh covers 2 ranks, with
# the CPU emulator). Prints ok/FAIL lines:
#   gpu_train_1rank       tests/jobs/dist.ini with backend = cuda against backend = cpu: every loss and
#                         eval line, and every dataset of the final checkpoint, within 1e-5
#                         (tests/oracle/train_compare.py);
#   gpu_resume_from_cpu   the CPU run's checkpoint at step 6 loaded on the GPU and trained to the end;
#   gpu_no_device         with CUDA_VISIBLE_DEVICES empty: one "no GPU" line, exit 1, nothing trained;
# and the samples/s of both runs (tiny job: launch-bound, not a benchmark).
set -u
BIN=${1:?usage: sh bench/train_cuda_check.sh BIN}
JOB=tests/jobs/dist.ini
PY=${PY:-python3}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
train() { # dir [args]
    d=$1; shift
    timeout 300 "$BIN" train $JOB --set run.out_dir="$d" --set checkpoint.every=6 "$@" >"$d.log" 2>&1
}
compare() { # name lines cpu_dir gpu_dir
    fa=$(ls "$3"/ckpt/ckpt-*.h5 2>/dev/null | tail -1)
    $PY tests/oracle/train_compare.py "$1" "$2" "$3.log" "$4.log" "$fa" "$4/ckpt/$(basename "$fa")"
}
train "$tmp/cpu" || { echo "FAIL gpu_train_cpu_reference: $(tail -3 "$tmp/cpu.log")"; exit 1; }
if train "$tmp/gpu" --set run.backend=cuda; then
    grep "^backend cuda" "$tmp/gpu.log"
    compare gpu_train_1rank 6 "$tmp/cpu" "$tmp/gpu"
else
    echo "FAIL gpu_train_1rank: the run failed: $(tail -5 "$tmp/gpu.log")"
fi
for r in cpu gpu; do echo "$r: $(grep -E '^(rica|head|finetune) ' "$tmp/$r.log" | awk '{printf "%s %s/s  ", $1, $8}')"; done
if train "$tmp/gpur" --set run.backend=cuda --resume "$tmp/cpu/ckpt/ckpt-00000006.h5"; then
    grep -v "^rica" "$tmp/cpu.log" >"$tmp/cpur.log"; mkdir -p "$tmp/cpur"; ln -s "$tmp/cpu/ckpt" "$tmp/cpur/ckpt"
    compare gpu_resume_from_cpu 4 "$tmp/cpur" "$tmp/gpur"
else
    echo "FAIL gpu_resume_from_cpu: the run failed: $(tail -5 "$tmp/gpur.log")"
fi
CUDA_VISIBLE_DEVICES= timeout 60 "$BIN" train $JOB --set run.backend=cuda --set run.out_dir="$tmp/none" \
    >"$tmp/n.out" 2>"$tmp/n.err"
rc=$?
if [ $rc -eq 1 ] && [ "$(grep -c 'cotsnet: error' "$tmp/n.err")" -eq 1 ] && grep -q "no GPU" "$tmp/n.err" &&
    ! grep -q step "$tmp/n.out"; then
    echo "ok gpu_no_device"
else
    echo "FAIL gpu_no_device: rc $rc: $(head -c 400 "$tmp/n.err")"
fi
