#!/bin/sh
# t_average.sh: grid.average_every = k > 1 (replicas step on their own gradients and average their
# parameters every k steps, and before checkpoints, evaluations and phase ends), tests/jobs/dist.ini
# with 2 replicas, SGD with momentum and weight decay:
#   avg_one_step_equals_k1   every phase one step long: one local step then the mean equals the mean
#                            of the gradients then one step (SGD is linear in g: exact up to rounding),
#                            so k = 5 must equal k = 1 within 1e-5 (loss lines and final checkpoint);
#   avg_local_steps_differ   with 3 steps per phase, k = 3 must NOT equal k = 1 (it takes local steps);
#   avg_grid_1x2             k = 3 on 2 replicas of 1x2 (4 ranks) equals 2 replicas of 1x1 (1e-5);
#   avg_resume               resumed from the checkpoint at step 4 (k = 3, inside a phase of 5 steps: a
#                            forced average with the state), the run ends bit-identical to the
#                            uninterrupted one;
#   avg_fused                optimizer.fused with 2 replicas and k = 3 runs (plain SGD: momentum 0) and
#                            equals the unfused SGD with momentum 0 bit for bit.
set -u
. tests/dist_env.sh # BUILD BIN PY JOB MPIRUN tmp, one thread per rank

train() { # dir np cols [args]: 2 replicas of a 1 x cols grid, loss lines every step, checkpoints every 6
    d=$1 np=$2 cols=$3
    shift 3
    timeout 120 $MPIRUN -np "$np" "$BIN" train $JOB --set run.out_dir="$d" --set grid.replicas=2 --set grid.rows=1 \
        --set grid.cols="$cols" --set checkpoint.every=6 --set train.eval_batches=3 --set run.log_every=1 "$@" \
        >"$d.log" 2>&1
}
last() { ls "$1"/ckpt/ckpt-*.h5 | tail -1; }

one="--set stage1.steps=1 --set stage2.steps=1 --set train.head_steps=1 --set train.finetune_steps=1"
if train "$tmp/a1" 2 1 $one && train "$tmp/a5" 2 1 $one --set grid.average_every=5; then
    $PY tests/oracle/train_compare.py avg_one_step_equals_k1 6 "$tmp/a1.log" "$tmp/a5.log" "$(last "$tmp/a1")" \
        "$(last "$tmp/a5")"
else
    echo "FAIL avg_one_step_equals_k1: a run failed: $(tail -2 "$tmp/a1.log") $(tail -2 "$tmp/a5.log")"
fi

if train "$tmp/k1" 2 1 && train "$tmp/k3" 2 1 --set grid.average_every=3; then
    if $PY tests/oracle/train_compare.py x 14 "$tmp/k1.log" "$tmp/k3.log" "$(last "$tmp/k1")" "$(last "$tmp/k3")" \
        >/dev/null; then
        echo "FAIL avg_local_steps_differ: k = 3 gave the same run as k = 1"
    else
        echo "ok avg_local_steps_differ"
    fi
else
    echo "FAIL avg_local_steps_differ: a run failed: $(tail -2 "$tmp/k1.log") $(tail -2 "$tmp/k3.log")"
fi

if train "$tmp/g2" 4 2 --set grid.average_every=3; then
    $PY tests/oracle/train_compare.py avg_grid_1x2 14 "$tmp/k3.log" "$tmp/g2.log" "$(last "$tmp/k3")" "$(last "$tmp/g2")"
else
    echo "FAIL avg_grid_1x2: the run failed: $(tail -3 "$tmp/g2.log")"
fi

# phases of 5, 5, 3, 3 steps, k = 3, a checkpoint every 4 steps: the one at step 4 falls inside stage 1's
# phase with a local step pending; resumed from it, the run must end as the uninterrupted one did
long="--set stage1.steps=5 --set stage2.steps=5 --set grid.average_every=3 --set checkpoint.every=4 --set checkpoint.keep=9"
if train "$tmp/k4" 2 1 $long && train "$tmp/r4" 2 1 $long --resume "$tmp/k4/ckpt/ckpt-00000004.h5" &&
    grep -q "resuming from .*ckpt-00000004.h5 at step 4" "$tmp/r4.log"; then
    la=$(losses "$tmp/k4.log" | tail -n +5); lb=$(losses "$tmp/r4.log")
    if [ -n "$lb" ] && [ "$la" = "$lb" ]; then
        $PY tests/oracle/ckpt_check.py same "$(last "$tmp/k4")" "$(last "$tmp/r4")" avg_resume
    else
        echo "FAIL avg_resume: the loss lines after step 4 differ: $(echo "$lb" | head -2)"
    fi
else
    echo "FAIL avg_resume: a run failed: $(tail -3 "$tmp/k4.log") $(tail -3 "$tmp/r4.log")"
fi

f="--set optimizer.momentum=0 --set grid.average_every=3"
if train "$tmp/s0" 2 1 $f && train "$tmp/f0" 2 1 $f --set optimizer.fused=yes; then
    la=$(losses "$tmp/s0.log"); lb=$(losses "$tmp/f0.log")
    if [ -n "$la" ] && [ "$la" = "$lb" ]; then echo "ok avg_fused ($(echo "$lb" | wc -l) loss lines identical)"
    else echo "FAIL avg_fused: loss lines differ: $(echo "$lb" | head -2)"; fi
else
    echo "FAIL avg_fused: a run failed: $(tail -3 "$tmp/s0.log") $(tail -3 "$tmp/f0.log")"
fi
