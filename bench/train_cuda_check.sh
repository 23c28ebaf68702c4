#!/bin/sh
# bench/train_cuda_check.sh BIN: training on a real GPU equals training on the CPU (bench/gpu_check.sh
# runs it on a lent GPU machine, with the cotsnet that `gpu_check.sh prepare` built here with nvcc).
# tests/jobs/dist.ini (two stages with LCN, tied and separate decoders, head, fine-tuning, evaluation,
# checkpoints); every comparison is tests/oracle/train_compare.py: every loss and eval line, and every
# dataset of the final checkpoint, within 1e-5. Prints ok/FAIL lines:
#   gpu_train_1rank       backend = cuda against backend = cpu, one rank;
#   gpu_resume_from_cpu   the CPU run's checkpoint at step 6 loaded on the GPU and trained to the end;
#   gpu_train_fused_1rank optimizer.fused (momentum 0): the fused backward + SGD kernels in training
#                         against the CPU backend's fused path (tests/t_fused.sh: that equals plain SGD);
#   gpu_train_{t32,t4,auto}_1rank, gpu_train_fused_{t32,t4,auto}_1rank
#                         the same with COTSNET_CUDA_LF_TILES=t32, t4 and auto (docs/CUDA.md "Tile schemes");
#   gpu_no_device         with CUDA_VISIBLE_DEVICES empty: one "no GPU" line, exit 1, nothing trained;
# and, where mpirun is found (the GPU machine has none of its own: gpu_check.sh unpacks Open MPI
# there), every rank on the one GPU, halos and the replicas' mean staged through host memory and MPI:
#   gpu_train_1x2, gpu_train_2x2   2 and 4 ranks (grids 1x2, 2x2) against the ONE-rank CPU run;
#   gpu_train_1x2_auto             grid 1x2 in mode auto (rank 0 times, both ranks run its choice);
#   gpu_resume_replicas            2 replicas of 1x1 resuming from the CPU checkpoint at step 6,
#                                  against the CPU backend doing the same;
#   gpu_train_average_R2           2 replicas of 1x1 with grid.average_every = 3 (parameters averaged
#                                  on the device every 3 steps), against the CPU backend;
#   gpu_eval_1x2                   `cotsnet eval` of the GPU checkpoint on 2 ranks: the CPU's accuracy.
# (NCCL refuses two ranks on one GPU: the NCCL paths get test_nccl's one-rank check only.)
# Also prints the samples/s of the runs (tiny job: launch-bound, not a benchmark).
set -u
BIN=${1:?usage: sh bench/train_cuda_check.sh BIN}
JOB=tests/jobs/dist.ini
PY=${PY:-python3}
MPIRUN=${MPIRUN:-mpirun --oversubscribe --bind-to none}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
train() { # dir [args]
    d=$1; shift
    timeout 120 "$BIN" train $JOB --set run.out_dir="$d" --set checkpoint.every=6 "$@" >"$d.log" 2>&1
}
trainmp() { # dir np rows cols [args]
    d=$1 np=$2 rows=$3 cols=$4; shift 4
    timeout 120 $MPIRUN -np "$np" "$BIN" train $JOB --set run.out_dir="$d" --set checkpoint.every=6 \
        --set grid.rows="$rows" --set grid.cols="$cols" "$@" >"$d.log" 2>&1
}
. tests/cuda_train_lib.sh # cuda_compare, cuda_eval_compare
rate() { grep -E '^(rica|head|finetune) ' "$1" | awk '{printf "%s %s/s  ", $1, $8}'; }
train "$tmp/cpu" || { echo "FAIL gpu_train_cpu_reference: $(tail -3 "$tmp/cpu.log")"; exit 1; }
if train "$tmp/gpu" --set run.backend=cuda; then
    grep -m1 "^backend cuda" "$tmp/gpu.log"
    cuda_compare gpu_train_1rank 6 "$tmp/cpu" "$tmp/gpu"
else
    echo "FAIL gpu_train_1rank: the run failed: $(tail -5 "$tmp/gpu.log")"
fi
for r in cpu gpu; do echo "$r 1 rank: $(rate "$tmp/$r.log")"; done
# optimizer.fused (momentum 0): the fused backward + SGD kernels in training, against the CPU's fused path
f="--set optimizer.momentum=0 --set optimizer.fused=yes"
train "$tmp/cpuF" $f || echo "FAIL gpu_train_fused_cpu_reference: $(tail -3 "$tmp/cpuF.log")"
if train "$tmp/gpuF" --set run.backend=cuda $f; then
    cuda_compare gpu_train_fused_1rank 6 "$tmp/cpuF" "$tmp/gpuF"
else
    echo "FAIL gpu_train_fused_1rank: the run failed: $(tail -5 "$tmp/gpuF.log")"
fi
# the local filter's other tile schemes (t32, t4) and mode auto (all three timed per stage, the choice kept in the
# checkpoints), against the same CPU runs; t16 is the default, which the runs above used
for mode in t32 t4 auto; do
    if COTSNET_CUDA_LF_TILES=$mode train "$tmp/gpu_$mode" --set run.backend=cuda; then
        grep "^local filter tiles auto" "$tmp/gpu_$mode.log"
        cuda_compare "gpu_train_${mode}_1rank" 6 "$tmp/cpu" "$tmp/gpu_$mode"
    else
        echo "FAIL gpu_train_${mode}_1rank: the run failed: $(tail -5 "$tmp/gpu_$mode.log")"
    fi
    if COTSNET_CUDA_LF_TILES=$mode train "$tmp/gpuF_$mode" --set run.backend=cuda $f; then
        cuda_compare "gpu_train_fused_${mode}_1rank" 6 "$tmp/cpuF" "$tmp/gpuF_$mode"
    else
        echo "FAIL gpu_train_fused_${mode}_1rank: the run failed: $(tail -5 "$tmp/gpuF_$mode.log")"
    fi
done
ck="$tmp/cpu/ckpt/ckpt-00000006.h5"
if train "$tmp/gpur" --set run.backend=cuda --resume "$ck"; then
    grep -v "^rica" "$tmp/cpu.log" >"$tmp/cpur.log"; mkdir -p "$tmp/cpur"; ln -s "$tmp/cpu/ckpt" "$tmp/cpur/ckpt"
    cuda_compare gpu_resume_from_cpu 4 "$tmp/cpur" "$tmp/gpur"
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

command -v mpirun >/dev/null 2>&1 || { echo "skip gpu_train_multirank: no mpirun here"; exit 0; }
for g in "2 1 2" "4 2 2"; do
    set -- $g
    name="gpu_train_${2}x${3}"
    if trainmp "$tmp/g$1" "$1" "$2" "$3" --set run.backend=cuda; then
        cuda_compare "$name" 6 "$tmp/cpu" "$tmp/g$1"
        echo "gpu $1 ranks: $(rate "$tmp/g$1.log")"
    else
        echo "FAIL $name: the run failed: $(tail -5 "$tmp/g$1.log")"
    fi
done
# mode auto on 2 ranks: rank 0 times, every rank runs its choice
if MPIRUN="$MPIRUN -x COTSNET_CUDA_LF_TILES=auto" trainmp "$tmp/g2auto" 2 1 2 --set run.backend=cuda; then
    grep "^local filter tiles auto" "$tmp/g2auto.log"
    cuda_compare gpu_train_1x2_auto 6 "$tmp/cpu" "$tmp/g2auto"
else
    echo "FAIL gpu_train_1x2_auto: the run failed: $(tail -5 "$tmp/g2auto.log")"
fi
trainmp "$tmp/cpuR" 2 1 1 --set grid.replicas=2 --resume "$ck" ||
    echo "FAIL gpu_cpu_reference_R2: $(tail -3 "$tmp/cpuR.log")"
if trainmp "$tmp/gpuR" 2 1 1 --set grid.replicas=2 --set run.backend=cuda --resume "$ck" &&
    grep -q "resuming from .*ckpt-00000006.h5 at step 6" "$tmp/gpuR.log"; then
    cuda_compare gpu_resume_replicas 4 "$tmp/cpuR" "$tmp/gpuR"
else
    echo "FAIL gpu_resume_replicas: the run failed: $(tail -5 "$tmp/gpuR.log")"
fi
# grid.average_every = 3: the replicas average their parameters on the GPU every 3 steps
a="--set grid.replicas=2 --set grid.average_every=3"
trainmp "$tmp/cpuA" 2 1 1 $a || echo "FAIL gpu_cpu_reference_average: $(tail -3 "$tmp/cpuA.log")"
if trainmp "$tmp/gpuA" 2 1 1 $a --set run.backend=cuda; then
    cuda_compare gpu_train_average_R2 6 "$tmp/cpuA" "$tmp/gpuA"
else
    echo "FAIL gpu_train_average_R2: the run failed: $(tail -5 "$tmp/gpuA.log")"
fi
cuda_eval_compare gpu_eval_1x2 "$tmp/gpu/ckpt/ckpt-00000012.h5" "$BIN" "$BIN"
