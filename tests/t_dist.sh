#!/bin/sh
# t_dist.sh: the distributed network equals the one-rank run. For every grid below, each forward map,
# loss and gradient of tests/jobs/dist.ini (halos two and three tiles wide on 3x3, uneven tiles)
# gathered from N ranks must match the one-rank result within 1e-5 (normwise per tensor); R=2 x 2x2
# is compared with one rank at twice the local batch. Then the parameters after 3 SGD-with-momentum
# steps of every phase on 2x2 must match the one-rank run, and a grid that does not match the world or
# is too fine for a map, or a job larger than the node's memory, must end with one error line and a
# non-zero exit, no rank left hanging.
. tests/dist_env.sh # BUILD BIN PY JOB MPIRUN tmp, one thread per rank
B=$(awk -F= '/^batch/{gsub(/ /,"",$2); print $2}' $JOB)

run_dist() { # out R Py Px batch
    mkdir -p "$1"
    timeout 120 $MPIRUN -np $(( $2 * $3 * $4 )) "$BUILD/tests/mpi_dist" $JOB "$1" --set grid.replicas=$2 \
        --set grid.rows=$3 --set grid.cols=$4 --set data.batch=$5 > "$1.log" 2>&1
}

run_dist "$tmp/ref" 1 1 1 "$B" || { echo "FAIL dist_reference: $(tail -3 "$tmp/ref.log")"; exit 1; }
run_dist "$tmp/ref2" 1 1 1 $((2 * B)) || { echo "FAIL dist_reference_2b: $(tail -3 "$tmp/ref2.log")"; exit 1; }
for grid in 1x1x2 1x2x1 1x2x2 1x2x3 1x3x3 2x2x2; do
    R=${grid%%x*}; rest=${grid#*x}; Py=${rest%x*}; Px=${rest#*x}
    out="$tmp/g$grid"
    if ! run_dist "$out" "$R" "$Py" "$Px" "$B"; then
        echo "FAIL dist_$grid: the run failed: $(tail -3 "$out.log")"; continue
    fi
    ref="$tmp/ref"
    if [ "$R" -gt 1 ]; then
        # replica 0's forward maps are the first B samples (the one-rank run at batch B); losses and
        # replica-averaged gradients are those of one rank at batch R*B
        ref="$tmp/refR"; rm -rf "$ref"; mkdir -p "$ref"
        cp "$tmp"/ref2/*.npy "$ref"/; rm -f "$ref/ft_gx.npy"; cp "$tmp"/ref/s*_y.npy "$tmp"/ref/s*_p.npy "$tmp"/ref/s*_out.npy "$ref"/
    fi
    $PY tests/oracle/compare_dirs.py "$ref" "$out" "dist_$grid" 1e-5
done

# Parameters after 3 steps of each phase (SGD with momentum, weight decay) on 2x2 and on one rank.
train() { # dir np rows cols
    timeout 300 $MPIRUN -np "$2" "$BIN" train $JOB --set run.out_dir="$1" --set grid.rows="$3" \
        --set grid.cols="$4" > "$1.log" 2>&1
}
if train "$tmp/t1" 1 1 1 && train "$tmp/t4" 4 2 2; then
    $PY - "$tmp/t1/ckpt" "$tmp/t4/ckpt" <<'PYEOF'
import glob, os, sys
import h5py, numpy as np
a = sorted(glob.glob(sys.argv[1] + "/ckpt-*.h5"))[-1]
b = os.path.join(sys.argv[2], os.path.basename(a))
bad = 0
with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
    names = []
    fa.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
    for n in names:
        x, y = fa[n][...].astype(np.float64), fb[n][...].astype(np.float64)
        d = np.linalg.norm(x)
        e = np.linalg.norm(x - y) / (d if d > 0 else 1)
        if x.shape != y.shape or e > 1e-5:
            print(f"FAIL train3_2x2/{n}: relative error {e:.3e}"); bad += 1
        else:
            print(f"ok train3_2x2/{n} ({e:.1e})")
sys.exit(bad != 0)
PYEOF
else
    echo "FAIL train3_2x2: a training run failed: $(tail -3 "$tmp/t1.log") $(tail -3 "$tmp/t4.log")"
fi

# A world size that does not match the grid, and a grid too fine for the maps: one line, non-zero exit.
timeout 60 $MPIRUN -np 3 "$BIN" train $JOB --set grid.rows=2 --set grid.cols=2 > "$tmp/w.out" 2> "$tmp/w.err"
rc=$?
n=$(grep -c "cotsnet: error" "$tmp/w.err")
if [ $rc -ne 0 ] && [ $rc -ne 124 ] && [ "$n" -eq 1 ] && grep -q "needs 4 ranks but the world has 3" "$tmp/w.err"; then
    echo "ok dist_world_mismatch"; else echo "FAIL dist_world_mismatch: rc $rc, $n error lines: $(cat "$tmp/w.err")"; fi
timeout 60 $MPIRUN -np 6 "$BIN" train $JOB --set grid.rows=6 --set grid.cols=1 > "$tmp/f.out" 2> "$tmp/f.err"
rc=$?
n=$(grep -c "cotsnet: error" "$tmp/f.err")
if [ $rc -ne 0 ] && [ $rc -ne 124 ] && [ "$n" -eq 1 ] && grep -q "too fine for stage 2.*largest grid that fits is 5x4" "$tmp/f.err"; then
    echo "ok dist_grid_too_fine"; else echo "FAIL dist_grid_too_fine: rc $rc, $n error lines: $(cat "$tmp/f.err")"; fi
# A job larger than the node's memory (jobs/coates2013.ini at batch 65536: terabytes on 2 ranks): refused
# before anything is allocated (src/mem_fit.c), one line with what the node's ranks need and what it has,
# no run directory (it was the out-of-memory killer, halfway through allocating)
timeout 60 $MPIRUN -np 2 "$BIN" train jobs/coates2013.ini --set run.backend=cpu --set grid.rows=1 --set grid.cols=2 \
    --set grid.replicas=1 --set data.batch=65536 --set run.out_dir="$tmp/big" > "$tmp/m.out" 2> "$tmp/m.err"
rc=$?
n=$(grep -c "cotsnet: error" "$tmp/m.err")
if [ $rc -ne 0 ] && [ $rc -ne 124 ] && [ "$n" -eq 1 ] && [ ! -e "$tmp/big" ] &&
    grep -q "the 2 ranks on node .* need [0-9.]* GiB of memory for this job on grid 1x2 .* GiB is available there (MemAvailable" "$tmp/m.err"; then
    echo "ok dist_memory_too_small"; else echo "FAIL dist_memory_too_small: rc $rc, $n error lines: $(head -c 600 "$tmp/m.err")"; fi
# An option without its value, last on the command line, on 2 ranks: one line naming the option, status 2
# (it was "unknown option '--set'").
for opt in --set --resume; do
    timeout 60 $MPIRUN -np 2 "$BIN" train $JOB --set grid.cols=2 $opt > "$tmp/o.out" 2> "$tmp/o.err"
    rc=$?
    n=$(grep -c "cotsnet: error" "$tmp/o.err")
    if [ $rc -eq 2 ] && [ "$n" -eq 1 ] && grep -q "cotsnet: error: train: $opt needs" "$tmp/o.err"; then
        echo "ok dist_${opt#--}_without_value"; else echo "FAIL dist_${opt#--}_without_value: rc $rc, $n error lines: $(cat "$tmp/o.err")"; fi
done
# A job that asks for the GPU backend where it cannot run: a build without CUDA refuses it, a CUDA
# build on a machine without a GPU says "no GPU"; either way one line on behalf of every rank, a
# non-zero exit, nothing trained on the CPU behind the user's back. (With a GPU the job would train:
# tests/t_cuda_train_emu.sh and bench/gpu_check.sh check that run.)
if "$BIN" --version | grep -q "cuda backend built"; then
    want="run.backend = cuda: no GPU on rank 0"
    if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then want=""; fi
else
    want="run.backend = cuda: this cotsnet was built without the CUDA backend"
fi
if [ -z "$want" ]; then
    echo "skip dist_backend_cuda_refused: this machine has a GPU, so backend = cuda trains"
else
    timeout 60 $MPIRUN -np 2 "$BIN" train $JOB --set grid.rows=1 --set grid.cols=2 --set run.backend=cuda \
        --set run.out_dir="$tmp/cuda" > "$tmp/c.out" 2> "$tmp/c.err"
    rc=$?
    n=$(grep -c "cotsnet: error" "$tmp/c.err")
    if [ $rc -ne 0 ] && [ $rc -lt 124 ] && [ "$n" -eq 1 ] && grep -q "$want" "$tmp/c.err" &&
        ! grep -q "step" "$tmp/c.out"; then
        echo "ok dist_backend_cuda_refused"; else echo "FAIL dist_backend_cuda_refused: rc $rc, $n error lines, wanted '$want': $(cat "$tmp/c.err")"; fi
fi

# Bad data found in the middle of a run, and a loss that is not finite in one replica only: one line
# from the lowest rank that saw it, status 1 on every rank, no MPI_Abort banner, no rank left hanging,
# and no checkpoint of the step it spoiled (the ones written before stay). Every rank used to print its
# own line and abort; a loss that went bad in one replica alone hung the others.
CK=tests/jobs/ckpt.ini # 16x14x2 images, 3 classes, batch 2; its maps fit 2x2
"$BIN" data synthetic --out "$tmp/good" --n 64 --test-n 16 --size 16x14x2 --classes 3 --float32 --quiet
mkdir -p "$tmp/badtr" "$tmp/badte"
cp "$tmp/good/test-000.h5" "$tmp/badtr/"; cp "$tmp/good/train-000.h5" "$tmp/badte/"
cp "$tmp/good/train-000.h5" "$tmp/badtr/"; cp "$tmp/good/test-000.h5" "$tmp/badte/"
# NaN in the last pixel of every training sample (seen by the bottom-right rank only) and of the test set
$PY -c "import sys, h5py, numpy as np
for p in sys.argv[1:]:
    f = h5py.File(p, 'r+'); f['images'][:, -1, -1, 0] = np.nan; f.close()" "$tmp/badtr/train-000.h5" "$tmp/badte/test-000.h5"
# one_line NAME RC_WANTED PATTERN ERRFILE RC: exactly one line from cotsnet, matching PATTERN, no abort
one_line() {
    n=$(grep -c "cotsnet:" "$4"); a=$(grep -c "MPI_ABORT" "$4")
    if [ "$5" -eq "$2" ] && [ "$n" -eq 1 ] && [ "$a" -eq 0 ] && grep -q "$3" "$4"; then
        echo "ok $1"; else echo "FAIL $1: rc $5 (want $2), $n cotsnet lines, $a MPI_ABORT: $(head -c 600 "$4")"; fi
}
timeout 120 $MPIRUN -np 4 "$BIN" train $CK --set grid.rows=2 --set grid.cols=2 --set run.out_dir="$tmp/rtr" \
    --set data.train="$tmp/badtr/train-*.h5" --set data.test= --set checkpoint.every=1 > "$tmp/rtr.out" 2> "$tmp/rtr.err"
rc=$?
one_line dist_bad_train_data_one_line 1 \
    "^cotsnet: error: \[data\] train: .*train-000.h5: sample [0-9]* holds a value that is not finite" "$tmp/rtr.err" $rc
if [ -z "$(ls "$tmp/rtr/ckpt" 2>/dev/null)" ] && ! grep -q "^checkpoint" "$tmp/rtr.out"; then
    echo "ok dist_bad_train_data_no_checkpoint"; else echo "FAIL dist_bad_train_data_no_checkpoint: $(ls "$tmp/rtr/ckpt")"; fi
timeout 120 $MPIRUN -np 4 "$BIN" train $CK --set grid.rows=2 --set grid.cols=2 --set run.out_dir="$tmp/rte" \
    --set data.train="$tmp/badte/train-*.h5" --set data.test="$tmp/badte/test-*.h5" --set checkpoint.every=2 \
    > "$tmp/rte.out" 2> "$tmp/rte.err"
rc=$?
one_line dist_bad_test_data_one_line 1 \
    "^cotsnet: error: \[data\] test: .*test-000.h5: sample [0-9]* holds a value that is not finite" "$tmp/rte.err" $rc
# the evaluation after the head phase failed: the checkpoints of the steps before it are all there and load
saved=$(grep -c "^checkpoint" "$tmp/rte.out")
if [ "$saved" -ge 4 ] && [ "$(ls "$tmp/rte/ckpt" | wc -l)" -ge 1 ] && ! grep -q "^eval" "$tmp/rte.out" &&
    "$BIN" info "$(grep "^checkpoint" "$tmp/rte.out" | tail -1 | cut -d' ' -f2)" > /dev/null 2>&1; then
    echo "ok dist_bad_test_data_checkpoints_kept"
else
    echo "FAIL dist_bad_test_data_checkpoints_kept: $saved announced, $(ls "$tmp/rte/ckpt" | tr '\n' ' ')"
fi
# one sample near the largest float: finite, so the reader takes it, but the replica whose batch holds
# it overflows to a loss that is not finite while the other replica's stays finite
mkdir -p "$tmp/huge"
"$BIN" data synthetic --out "$tmp/huge" --n 16 --test-n 0 --size 16x14x2 --classes 3 --float32 --quiet
$PY -c "import sys, h5py; f = h5py.File(sys.argv[1], 'r+'); f['images'][5] = 2e37; f.close()" "$tmp/huge/train-000.h5"
timeout 60 $MPIRUN -np 2 "$BIN" train $CK --set grid.replicas=2 --set run.out_dir="$tmp/rnan" \
    --set data.train="$tmp/huge/train-*.h5" --set data.test= > "$tmp/rnan.out" 2> "$tmp/rnan.err"
rc=$?
one_line dist_replica_loss_one_line 1 "^cotsnet: error: rica stage [12] step [0-9]*: the loss is .* in replica [01]; stopping" \
    "$tmp/rnan.err" $rc
