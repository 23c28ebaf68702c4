#!/bin/sh
# tests/t_slurm_train.sh: slurm/train.sh with the real cotsnet, in a private one-node Slurm
# (tests/slurm/lib.sh), 4 ranks on a 2x2 grid (tests/jobs/slurm.ini):
#  - slurm_train_job: a 40-step job completes (COMPLETED, exit 0), writes its checkpoints in its run
#    directory, and its output file has the progress lines of every phase and the test accuracy;
#  - slurm_train_resume: a longer job, signalled while it steps (scancel --signal=USR1 --batch, what
#    the time-limit signal does), checkpoints, exits 85, is requeued (Restarts=1), resumes from that
#    checkpoint ("resuming from ... at step N") and completes; its final checkpoint is bit-identical
#    to that of the same job run straight with mpirun -np 4;
#  - slurm_train_signal_at_start: the same job signalled as soon as its script starts (before or while
#    the ranks start): no rank dies of the signal, the job is requeued, resumes, and ends bit-identical.
# Stops every daemon it started, even on failure. Skips when Slurm cannot run here (packages missing,
# not root, the daemons do not start: tests/t_slurm_harness.sh says why).
repo=$(cd "$(dirname "$0")/.." && pwd)
. "$repo/tests/slurm/test_env.sh" # slurm_test_setup, ok, fail, show, slurm_test_down
slurm_test_setup slurm_train t-strain
if ! command -v mpirun >/dev/null 2>&1; then
    echo "skip slurm_train: no mpirun"
    exit 0
fi
BIN=${COTSNET_BIN:-bin/cotsnet}
case $BIN in /*) ;; *) BIN=$repo/$BIN ;; esac
if [ ! -x "$BIN" ]; then
    echo "FAIL slurm_train: $BIN not built (make)"
    exit 1
fi
JOB=$repo/tests/jobs/slurm.ini
train="$repo/slurm/train.sh"
# Inside the allocation (8 CPUs declared) mpirun does not know that the machine has fewer cores, and
# its ranks would spin while they wait: 4 spinning ranks on 2 shared cores run ~50x slower.
export OMPI_MCA_mpi_yield_when_idle=1
# slurm/train.sh holds a signal until cotsnet says that every rank catches it (COTSNET_READY_FILE);
# the hold's limit (COTSNET_SIGNAL_HOLD) is only a fallback, left at its default
unset COTSNET_SIGNAL_HOLD
export COTSNET_BIN="$BIN"
# The signalled runs: 2400 steps (~7 s here), a checkpoint every 100, a progress line every 20. The
# signal at the start reaches the ranks 2-3 s after the script starts (scancel's delivery, the hold):
# the long fine-tuning phase keeps the job stepping well past that.
total=2400
LONG="--set stage1.steps=400 --set stage2.steps=400 --set train.head_steps=400 --set train.finetune_steps=1200
      --set checkpoint.every=100 --set run.log_every=20"
final=$(printf "ckpt/ckpt-%08d.h5" "$total")

# same NAME A B: every dataset (and the training cursor) of checkpoints A and B bit-identical
same() {
    if /usr/bin/python3 -c "import h5py" 2>/dev/null; then
        /usr/bin/python3 "$repo/tests/oracle/ckpt_check.py" same "$2" "$3" "$1"
    elif h5diff -q "$2" "$3" >/dev/null 2>&1; then
        ok "$1 (h5diff)"
    else
        fail "$1" "h5diff: $2 and $3 differ"
    fi
}
# wait_grep FILE PATTERN SECONDS: until a line of FILE matches PATTERN
wait_grep() {
    i=0
    until grep -q "$2" "$1" 2>/dev/null; do
        [ "$i" -ge $(($3 * 10)) ] && return 1
        sleep 0.1
        i=$((i + 1))
    done
}

if ! slurm_up "$tmp/slurm"; then
    echo "skip slurm_train: Slurm does not start here: $SLURM_WHY"
    exit 0
fi
ok "slurm_train_up ($(($(date +%s) - t_start)) s)"

work=$tmp/work
mkdir -p "$work/runs" || exit 1
cd "$work" || exit 1

# The reference: the long job straight, with mpirun, beside the Slurm jobs.
timeout 400 mpirun --oversubscribe --bind-to none -np 4 "$BIN" train "$JOB" --set run.out_dir="$work/ref" $LONG \
    >"$work/ref.log" 2>&1 &
refpid=$!
kill_at_exit=$refpid
# The basic job, and the long one to signal while it steps (8 CPUs: both run at once).
basic=$(sbatch --parsable -J basic "$train" "$JOB" --set run.out_dir="$work/basic")
resume=$(sbatch --parsable -J resume "$train" "$JOB" --set run.out_dir="$work/resume" $LONG)
[ -n "$basic" ] && [ -n "$resume" ] || { fail slurm_train "sbatch failed"; exit 1; }

# --- the resume test: signal it as soon as it steps, before anything else is waited for (on a
# fast machine the whole job takes a few seconds)
out=runs/resume-$resume.out
if wait_grep "$out" "^rica  *stage 1  step" 60; then
    scancel --signal=USR1 --batch "$resume" || fail slurm_train_resume "scancel --signal=USR1 --batch failed"
else
    fail slurm_train_resume "no progress line after 60 s (state $(slurm_job_field "$resume" JobState))"
    show "$out"
fi

# --- the basic job
out=runs/basic-$basic.out
why=
st=$(slurm_wait_job "$basic" 300) || why="$SLURM_WHY;"
[ "$st" = COMPLETED ] || why="${why}state $st;"
[ "$(slurm_job_field "$basic" ExitCode)" = 0:0 ] || why="$why ExitCode $(slurm_job_field "$basic" ExitCode);"
[ "$(slurm_job_field "$basic" Restarts)" = 0 ] || why="$why Restarts $(slurm_job_field "$basic" Restarts);"
ls "$work"/basic/ckpt/ckpt-000000[0-9][0-9].h5 >/dev/null 2>&1 || why="$why no ckpt-XXXXXXXX.h5 in the run directory;"
[ -f "$work/basic/ckpt/ckpt-00000040.h5" ] || why="$why no final checkpoint ckpt-00000040.h5;"
grep -q "^checkpoint $work/basic/ckpt/ckpt-00000040.h5$" "$out" || why="$why no 'checkpoint ...' line for it;"
for p in "^rica  *stage 1  step  *10/10 .*samples/s" "^rica  *stage 2  step  *10/10 " "^head  *stage 2  step  *10/10 " \
    "^finetune stage 2  step  *10/10 .*ETA"; do
    grep -q "$p" "$out" || why="$why no progress line '$p';"
done
acc=$(sed -n 's/^eval  *finetune step  *10  test accuracy \([0-9.]*\)$/\1/p' "$out")
[ -n "$acc" ] || why="$why no 'eval finetune ... test accuracy' line;"
if [ -n "$why" ]; then
    fail slurm_train_job "$why"
    show "$out"
else
    ok "slurm_train_job (COMPLETED 0:0 after $(($(date +%s) - t_start)) s, test accuracy $acc)"
fi

# --- the signal at the start: sent as soon as the script prints its first line (the ranks are not
# up yet): train.sh holds it until they all catch it, then every rank must
early=$(sbatch --parsable -J early "$train" "$JOB" --set run.out_dir="$work/early" $LONG)
if [ -n "$early" ] && wait_grep "runs/early-$early.out" "^train.sh: .*SLURM_RESTART_COUNT=0" 60; then
    scancel --signal=USR1 --batch "$early" || fail slurm_train_signal_at_start "scancel --signal=USR1 --batch failed"
else
    fail slurm_train_signal_at_start "the job did not start in 60 s (state $(slurm_job_field "$early" JobState))"
    early=
fi

# check_resumed NAME ID OUT: the job stopped at some step N < $total on the signal, checkpointed, was
# requeued once, resumed from ckpt-N, completed, and its final checkpoint equals the reference's.
check_resumed() {
    st=$(slurm_wait_job "$2" 400) || { fail "$1" "$SLURM_WHY"; show "$3"; return; }
    why=
    [ "$st" = COMPLETED ] || why="state $st;"
    [ "$(slurm_job_field "$2" ExitCode)" = 0:0 ] || why="$why ExitCode $(slurm_job_field "$2" ExitCode);"
    [ "$(slurm_job_field "$2" Restarts)" = 1 ] || why="$why Restarts=$(slurm_job_field "$2" Restarts), not 1;"
    n=$(sed -n 's/^stopping at step \([0-9]*\) on a signal.*/\1/p' "$3")
    if [ -z "$n" ] || [ "$(echo "$n" | wc -l)" -ne 1 ] || [ "$n" -ge "$total" ]; then
        why="$why stopped at step '$n' (want one stop before $total);"
    else
        ck=$(printf 'ckpt/ckpt-%08d.h5' "$n")
        grep -q "^checkpoint .*/$ck$" "$3" || why="$why no '$ck' written on the signal;"
        grep -q "ranks exited with status 85" "$3" || why="$why the ranks did not exit 85;"
        grep -q "requeueing job $2" "$3" || why="$why train.sh did not requeue;"
        grep -q "SLURM_RESTART_COUNT=1" "$3" || why="$why no second run in the output;"
        grep -q "^resuming from .*/$ck at step $n$" "$3" || why="$why no 'resuming from .../$ck at step $n';"
    fi
    grep -q "exited on signal" "$3" && why="$why a rank died of a signal;"
    grep -q "^eval  *finetune step  *1200  test accuracy" "$3" || why="$why no final test accuracy;"
    if [ -n "$why" ]; then
        fail "$1" "$why"
        show "$3"
        return
    fi
    ok "$1 (stopped at step $n of $total, requeued, resumed, COMPLETED after $(($(date +%s) - t_start)) s)"
    if [ -f "$work/ref/$final" ]; then
        same "$1_bit_identical" "$work/ref/$final" "$4/$final"
    else
        fail "$1_bit_identical" "the reference run has no $final"
    fi
}

# The reference first (its checkpoint is needed by both checks)
wait "$refpid"
rc=$?
kill_at_exit=
if [ "$rc" -ne 0 ] || [ ! -f "$work/ref/$final" ]; then
    fail slurm_train_reference "mpirun -np 4 straight: exit $rc"
    show "$work/ref.log"
fi
check_resumed slurm_train_resume "$resume" "runs/resume-$resume.out" "$work/resume"
[ -n "$early" ] && check_resumed slurm_train_signal_at_start "$early" "runs/early-$early.out" "$work/early"

# --- stop: no daemon left
slurm_test_down slurm_train_down
[ "$fails" -eq 0 ]
