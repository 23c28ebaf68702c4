#!/bin/sh
# t_ckpt.sh: checkpoints (DESIGN.md "Checkpoints"), from outside the program.
#  - grid change: a checkpoint written on 2x2 and loaded on 1x3, 3x1 and 1x1 is written again bit-identical;
#  - exact resume: 10 steps straight = N steps, checkpoint, a fresh process, the rest (1x1 and 2x2,
#    N = 4, 5, 7, 8: inside a phase and on phase boundaries), bit-identical parameters and cursor; SIGUSR1
#    to mpirun mid-run gives exit 85 and a checkpoint, and --resume auto finishes bit-identical;
#  - --resume auto skips a newer .partial file; keep = 2 leaves two checkpoints; every = -1 leaves none;
#  - a fresh run over an earlier run's checkpoints is refused and leaves them whole; an output directory
#    that cannot be written stops every rank of 2 with one line before the first step;
#  - a corrupted chunk read by one rank of 2x2, a truncated file, a shard and an empty file are each
#    refused with one error line, non-zero exit, no hang, before training starts; so are crafted damages
#    (an attribute of many values, a cursor out of range, NaN parameters, a metadata checksum, a tile
#    record lf_tiles that is not one of three schemes per stage); a valid tile record resumes;
#  - h5py as an outside user: attributes, shape, values, chunking and Fletcher-32;
#  - initial parameters: the same on 1x1 and 2x3, and equal to an independent Philox oracle;
#  - `cotsnet info` on checkpoints, a shard and files it must refuse.
BUILD=${COTSNET_BUILD:-build}
BIN=${COTSNET_BIN:-bin/cotsnet}
PY=/usr/bin/python3
CK="$PY tests/oracle/ckpt_check.py"
JOB=tests/jobs/ckpt.ini
CHJOB=tests/jobs/ckpt_chunks.ini
export OMP_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
MPIRUN="mpirun --oversubscribe --bind-to none"
tmp=$(mktemp -d); trap 'umount "$tmp/full" 2>/dev/null; rm -rf "$tmp"' EXIT
ck10=ckpt/ckpt-00000010.h5

train() { # DIR ROWS COLS [options]: the test job on a ROWS x COLS grid, output in DIR, log in DIR.log
    d=$1; r=$2; c=$3; shift 3
    timeout 120 $MPIRUN -np $((r * c)) "$BIN" train $JOB --set run.out_dir="$d" --set grid.rows="$r" \
        --set grid.cols="$c" "$@" > "$d.log" 2>&1
}
failrun() { echo "FAIL $1: the run failed (exit $2): $(tail -3 "$3" | tr '\n' ' ')"; }

# ---- grid change ----------------------------------------------------------------------------------
if train "$tmp/g4" 2 2 --set checkpoint.every=1; then
    for g in 1x3 3x1 1x1; do
        r=${g%x*}; c=${g#*x}
        dump=""; [ $g = 1x3 ] && dump="--dump $tmp/filters1x3.npy"
        if timeout 60 $MPIRUN -np $((r * c)) "$BUILD/tests/mpi_ckpt" $JOB "$tmp/g4/$ck10" "$tmp/re$g" $dump \
            --set grid.rows=$r --set grid.cols=$c > "$tmp/re$g.log" 2>&1; then
            $CK same "$tmp/g4/$ck10" "$tmp/re$g/ckpt-00000010.h5" grid_change_2x2_to_$g
        else
            failrun grid_change_2x2_to_$g $? "$tmp/re$g.log"
        fi
    done
    # the 1x3 copy written again on 3x1: a chain of grids changes nothing either
    if timeout 60 $MPIRUN -np 3 "$BUILD/tests/mpi_ckpt" $JOB "$tmp/re1x3/ckpt-00000010.h5" "$tmp/chain" \
        --set grid.rows=3 --set grid.cols=1 > "$tmp/chain.log" 2>&1; then
        $CK same "$tmp/g4/$ck10" "$tmp/chain/ckpt-00000010.h5" grid_change_2x2_1x3_3x1
    else
        failrun grid_change_2x2_1x3_3x1 $? "$tmp/chain.log"
    fi
    [ -f "$tmp/filters1x3.npy" ] && $CK outside "$tmp/g4/$ck10" "$tmp/filters1x3.npy" h5py_outside_user
else
    failrun grid_change $? "$tmp/g4.log"
fi

# ---- exact resume -----------------------------------------------------------------------------------
# 1x1: straight, with a checkpoint every step (checkpointing must not change the run), resumed from 4 (inside
# stage 2), 5 (end of the unsupervised phase), 8 (end of the head phase) in fresh processes
if train "$tmp/s1" 1 1 && train "$tmp/b1" 1 1 --set checkpoint.every=1; then
    $CK same "$tmp/s1/$ck10" "$tmp/b1/$ck10" resume_1x1_checkpointing_changes_nothing
    for at in 4 5 8; do
        if train "$tmp/r1_$at" 1 1 --resume "$tmp/b1/ckpt/ckpt-0000000$at.h5"; then
            grep -q "resuming from $tmp/b1/ckpt/ckpt-0000000$at.h5 at step $at" "$tmp/r1_$at.log" ||
                echo "FAIL resume_1x1_from_$at: no 'resuming from ... at step $at' line"
            $CK same "$tmp/s1/$ck10" "$tmp/r1_$at/$ck10" resume_1x1_from_$at
        else
            failrun resume_1x1_from_$at $? "$tmp/r1_$at.log"
        fi
    done
else
    failrun resume_1x1 $? "$tmp/s1.log"
fi
# 2x2: straight; --resume auto from a directory holding ckpt 5 and a newer fake .partial; FILE from 7
if train "$tmp/s4" 2 2 && [ -f "$tmp/g4/$ck10" ]; then
    $CK same "$tmp/s4/$ck10" "$tmp/g4/$ck10" resume_2x2_checkpointing_changes_nothing
    mkdir -p "$tmp/a4/ckpt"
    cp "$tmp/g4/ckpt/ckpt-00000005.h5" "$tmp/a4/ckpt/"
    head -c 4096 /dev/urandom > "$tmp/a4/ckpt/ckpt-00000009.h5.partial"
    if train "$tmp/a4" 2 2 --resume auto; then
        if grep -q "resuming from $tmp/a4/ckpt/ckpt-00000005.h5 at step 5" "$tmp/a4.log"; then
            echo "ok resume_auto_skips_partial"
        else
            echo "FAIL resume_auto_skips_partial: $(grep resuming "$tmp/a4.log")"
        fi
        $CK same "$tmp/s4/$ck10" "$tmp/a4/$ck10" resume_2x2_auto_from_5
    else
        failrun resume_auto_skips_partial $? "$tmp/a4.log"
    fi
    if train "$tmp/f4" 2 2 --resume "$tmp/g4/ckpt/ckpt-00000007.h5"; then
        $CK same "$tmp/s4/$ck10" "$tmp/f4/$ck10" resume_2x2_from_7
    else
        failrun resume_2x2_from_7 $? "$tmp/f4.log"
    fi
    # a 2x2 checkpoint resumed on 1x1 continues the same training (equal up to float summation order)
    if train "$tmp/x1" 1 1 --resume "$tmp/g4/ckpt/ckpt-00000005.h5"; then
        $CK close "$tmp/s4/$ck10" "$tmp/x1/$ck10" resume_2x2_on_1x1 1e-5
    else
        failrun resume_2x2_on_1x1 $? "$tmp/x1.log"
    fi
else
    failrun resume_2x2 $? "$tmp/s4.log"
fi

# keep = 2: after a run checkpointing every step, only the two newest complete checkpoints remain
if train "$tmp/k1" 1 1 --set checkpoint.every=1 --set checkpoint.keep=2; then
    left=$(ls "$tmp/k1/ckpt" | tr '\n' ' ')
    if [ "$left" = "ckpt-00000009.h5 ckpt-00000010.h5 " ]; then echo "ok keep_2"; else echo "FAIL keep_2: left $left"; fi
else
    failrun keep_2 $? "$tmp/k1.log"
fi

# a fresh run (no --resume) over the checkpoints of an earlier run is refused before any work (it replaced the
# earlier run's checkpoint of the same step and, keeping the newest, removed others), and they stay whole
if [ -f "$tmp/k1/ckpt/ckpt-00000010.h5" ]; then
    cp "$tmp/k1/ckpt/ckpt-00000010.h5" "$tmp/k1_10.h5"
    train "$tmp/k1" 1 1 --set stage1.maps=2
    rc=$?
    if [ $rc -eq 2 ] && [ "$(grep -c "error" "$tmp/k1.log")" -eq 1 ] &&
        grep -q "cotsnet: error: \[checkpoint\] dir: .* holds checkpoints of an earlier run" "$tmp/k1.log" &&
        cmp -s "$tmp/k1_10.h5" "$tmp/k1/ckpt/ckpt-00000010.h5" && [ -f "$tmp/k1/ckpt/ckpt-00000009.h5" ] &&
        ! grep -q "^rica" "$tmp/k1.log"; then
        echo "ok fresh_run_keeps_earlier_checkpoints"
    else
        echo "FAIL fresh_run_keeps_earlier_checkpoints: exit $rc, $(ls "$tmp/k1/ckpt" | tr '\n' ' '), $(grep -m1 error "$tmp/k1.log")"
    fi
fi

# an output directory that cannot be written (a regular file on its path): on 2 ranks, one line and status 1
# on every rank before the first step (the run directory ended in MPI_Abort with a line per rank; the
# checkpoint directory only failed at the first checkpoint, after the training)
: > "$tmp/plainfile"
for which in run.out_dir checkpoint.dir; do
    case $which in run.out_dir) set -- --set run.out_dir="$tmp/plainfile/run"; want="\[run\] out_dir: cannot create";;
        *) set -- --set run.out_dir="$tmp/pf" --set checkpoint.dir="$tmp/plainfile"; want="\[checkpoint\] dir: cannot write checkpoints .*Not a directory";; esac
    timeout 60 $MPIRUN -np 2 "$BIN" train $JOB --set grid.cols=2 "$@" > "$tmp/pf.out" 2> "$tmp/pf.err"
    rc=$?
    if [ $rc -eq 1 ] && [ "$(grep -c "cotsnet" "$tmp/pf.err")" -eq 1 ] && grep -q "cotsnet: error: $want" "$tmp/pf.err" &&
        ! grep -q "MPI_ABORT" "$tmp/pf.err" && ! grep -Eq "^(rica|head|finetune) " "$tmp/pf.out"; then
        echo "ok unwritable_$(echo $which | tr . _)_one_line"
    else
        echo "FAIL unwritable_$(echo $which | tr . _)_one_line: exit $rc: $(grep -m3 -E "cotsnet|MPI_ABORT" "$tmp/pf.err" | tr '\n' ' ')"
    fi
done

# every = -1: never a checkpoint, not even the final one (benchmarks)
if train "$tmp/k0" 1 1 --set checkpoint.every=-1; then
    if [ -z "$(ls "$tmp/k0/ckpt" 2>/dev/null)" ] && grep -q "^finetune " "$tmp/k0.log" && ! grep -q "^checkpoint" "$tmp/k0.log"; then
        echo "ok ckpt_never"
    else
        echo "FAIL ckpt_never: $(ls "$tmp/k0/ckpt" 2>/dev/null | tr '\n' ' ') $(grep -m2 "^checkpoint" "$tmp/k0.log")"
    fi
else
    failrun ckpt_never $? "$tmp/k0.log"
fi

# ---- SIGUSR1 to mpirun mid-run: exit 85, a checkpoint, --resume auto to the end, bit-identical ----------
# batch 16: steps of a few ms even on fast machines, so the signal lands long before the end
LONG="--set data.batch=16 --set stage1.steps=40 --set stage2.steps=30 --set train.head_steps=30 --set train.finetune_steps=20"
total=120
if train "$tmp/u0" 2 2 $LONG; then
    # sh -c records its pid, then becomes mpirun (exec): the pid to signal, with timeout still watching
    timeout 120 sh -c 'echo $$ > "$0"; exec "$@"' "$tmp/u1.pid" $MPIRUN -np 4 "$BIN" train $JOB \
        --set run.out_dir="$tmp/u1" --set grid.rows=2 --set grid.cols=2 $LONG > "$tmp/u1.log" 2>&1 &
    tpid=$!
    i=0
    # the first progress line: every rank has its handler (installed before the first step)
    while [ $i -lt 1500 ] && ! grep -q "^rica .*step  *1/" "$tmp/u1.log" 2>/dev/null; do sleep 0.02; i=$((i + 1)); done
    kill -USR1 "$(cat "$tmp/u1.pid")"
    wait $tpid
    rc=$?
    at=$(sed -n 's/^stopping at step \([0-9]*\) on a signal.*/\1/p' "$tmp/u1.log")
    if [ $rc -eq 85 ] && [ -n "$at" ] && [ "$at" -lt $total ] &&
        [ -f "$tmp/u1/ckpt/ckpt-$(printf %08d "$at").h5" ] && ! ls "$tmp/u1/ckpt" | grep -q partial; then
        echo "ok sigusr1_exit_85 (stopped at step $at of $total, checkpoint written)"
        if train "$tmp/u1" 2 2 $LONG --resume auto; then
            grep -q "resuming from .*ckpt-$(printf %08d "$at").h5 at step $at" "$tmp/u1.log" ||
                echo "FAIL sigusr1_resume: did not resume at step $at"
            $CK same "$tmp/u0/ckpt/ckpt-00000$total.h5" "$tmp/u1/ckpt/ckpt-00000$total.h5" sigusr1_resume_bit_identical
        else
            failrun sigusr1_resume $? "$tmp/u1.log"
        fi
    else
        echo "FAIL sigusr1_exit_85: exit $rc, stopped at '$at': $(tail -3 "$tmp/u1.log" | tr '\n' ' ')"
    fi
else
    failrun sigusr1 $? "$tmp/u0.log"
fi

# ---- refused checkpoints: one error line, non-zero exit, no hang, no training ---------------------------
refused() { # NAME FILE PATTERN: resuming the chunk job on 2x2 (1x1 when NP=1) from FILE must fail with one line matching PATTERN
    if [ "${NP:-4}" = 1 ]; then
        timeout 60 "$BIN" train $CHJOB --set run.out_dir="$tmp/no_$1" $CHSET --resume "$2" > "$tmp/$1.out" 2> "$tmp/$1.err"
    else
        timeout 60 $MPIRUN -np 4 "$BIN" train $CHJOB --set run.out_dir="$tmp/no_$1" --set grid.rows=2 \
            --set grid.cols=2 $CHSET --resume "$2" > "$tmp/$1.out" 2> "$tmp/$1.err"
    fi
    rc=$?
    n=$(grep -c "error" "$tmp/$1.err")
    if [ $rc -eq 0 ] || [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
        echo "FAIL $1: exit $rc (0: accepted; 124/137: a rank hung)"
    elif [ "$n" -ne 1 ] || ! grep "cotsnet: error" "$tmp/$1.err" | grep -q -- "$3"; then
        echo "FAIL $1: $n error lines, wanted one matching '$3': $(head -c 600 "$tmp/$1.err")"
    elif grep -Eq "^(rica|head|finetune) |^checkpoint " "$tmp/$1.out" || [ -d "$tmp/no_$1/ckpt" ]; then
        echo "FAIL $1: training started anyway"
    else
        echo "ok $1 ($(grep "cotsnet: error" "$tmp/$1.err" | cut -c1-150))"
    fi
}
CHSET="--set stage1.steps=2 --set train.head_steps=1"
if timeout 60 "$BIN" train $CHJOB --set run.out_dir="$tmp/ch" $CHSET --set checkpoint.every=1 > "$tmp/ch.log" 2>&1; then
    good="$tmp/ch/ckpt/ckpt-00000001.h5" # inside stage 1: a resume from it trains
    # the intact file resumes on 2x2 (so that what fails below fails because of the damage)
    if timeout 60 $MPIRUN -np 4 "$BIN" train $CHJOB --set run.out_dir="$tmp/chok" --set grid.rows=2 \
        --set grid.cols=2 $CHSET --resume "$good" > "$tmp/chok.log" 2>&1 && grep -q "^rica .*step  *2/2" "$tmp/chok.log"; then
        echo "ok corrupt_control_intact_file_resumes"
    else
        echo "FAIL corrupt_control_intact_file_resumes: $(tail -3 "$tmp/chok.log" | tr '\n' ' ')"
    fi
    cp "$good" "$tmp/bad.h5"
    # the chunk of locations [2:4, 2:4]: read by rank 3 (py 1, px 1) alone
    $CK corrupt "$tmp/bad.h5" stage1/filters 2,2 > "$tmp/corrupt.log" 2>&1 || echo "FAIL corrupt_chunk: $(cat "$tmp/corrupt.log")"
    refused corrupt_chunk_one_rank "$tmp/bad.h5" "checkpoint $tmp/bad.h5: /stage1/filters cannot be read"
    cp "$good" "$tmp/trunc.h5"
    truncate -s $(($(stat -c %s "$good") / 2)) "$tmp/trunc.h5"
    refused truncated_file "$tmp/trunc.h5" "checkpoint $tmp/trunc.h5: .*truncated"
    $CK shard "$tmp/shard.h5"
    refused shard_not_checkpoint "$tmp/shard.h5" "checkpoint $tmp/shard.h5: not a cotsnet checkpoint"
    : > "$tmp/empty.h5"
    refused empty_file "$tmp/empty.h5" "checkpoint $tmp/empty.h5: not a readable HDF5 file"
    # crafted damage, one process each: an attribute of 64 values (it overflowed the reader's stack), a
    # cursor no run writes (stage -1 indexed before the stages; phase 9 ended the run at once with status 0),
    # NaN parameters (they failed later as a diverging loss), a metadata checksum (it read as "missing")
    for kind in cursor_array stage_neg phase_out nan header; do
        $CK damage "$good" "$tmp/d_$kind.h5" $kind || echo "FAIL damaged_$kind: ckpt_check.py damage failed"
    done
    NP=1 refused damaged_attribute_array "$tmp/d_cursor_array.h5" "sample_cursor of the training cursor is missing or not one integer"
    NP=1 refused damaged_stage_negative "$tmp/d_stage_neg.h5" "training cursor is invalid (.*stage -1"
    NP=1 refused damaged_phase_out_of_range "$tmp/d_phase_out.h5" "training cursor is invalid (.*phase 9"
    NP=1 refused damaged_nan_parameters "$tmp/d_nan.h5" "/stage1/filters holds a value that is not finite"
    NP=1 refused damaged_object_header "$tmp/d_header.h5" "/stage1/filters cannot be opened: the file is corrupted (.*checksum"
    # the tile record of COTSNET_CUDA_LF_TILES=auto (attribute lf_tiles, src/dev_tune.h), checked on every
    # backend: a valid one for this 1-stage job resumes (on the CPU it is not carried on: no GPU chose it);
    # a bad scheme (t8: a scheme only briefly, never the default), the wrong number of stages, or a number
    # instead of text is refused
    setattr() { $PY -c "import h5py,sys,numpy as np; v=sys.argv[3]; f=h5py.File(sys.argv[2],'a'); f.attrs['lf_tiles']=int(v) if v.isdigit() else np.bytes_(v.encode())" x "$@"; }
    cp "$good" "$tmp/t_ok.h5" && setattr "$tmp/t_ok.h5" "t16,t4,t32"
    if timeout 60 "$BIN" train $CHJOB --set run.out_dir="$tmp/tok" $CHSET --resume "$tmp/t_ok.h5" > "$tmp/tok.log" 2>&1 &&
        grep -q "^rica .*step  *2/2" "$tmp/tok.log" && "$BIN" info "$tmp/t_ok.h5" | grep -q "lf tiles  *t16,t4,t32 " &&
        ! "$BIN" info "$(ls "$tmp"/tok/ckpt/ckpt-*.h5 | tail -1)" | grep -q "lf tiles"; then
        echo "ok lf_tiles_record_resumes"
    else
        echo "FAIL lf_tiles_record_resumes: $(tail -3 "$tmp/tok.log" | tr '\n' ' ')"
    fi
    for bad in "t99,t32,t16:scheme" "t8,t32,t16:scheme_t8" "t16,t4x,t16:scheme_suffix" "t16,t32,t16;t16,t32,t16:two_stages" "t16,t32:two_passes" "5:number"; do
        cp "$good" "$tmp/t_bad.h5" && setattr "$tmp/t_bad.h5" "${bad%:*}"
        NP=1 refused "damaged_lf_tiles_${bad#*:}" "$tmp/t_bad.h5" "attribute lf_tiles is not 1 stage of three tile schemes"
    done
else
    failrun corrupt $? "$tmp/ch.log"
fi

# ---- initial parameters: grid-independent, and the formula of docs/MODEL.md ------------------------------
# stage 2 with init_scale 0.25: the oracle reads the scale from the job text
ZERO="--set stage1.steps=0 --set stage2.steps=0 --set train.head_steps=0 --set train.finetune_steps=0 --set stage2.init_scale=0.25"
if train "$tmp/i1" 1 1 $ZERO && train "$tmp/i6" 2 3 $ZERO; then
    $CK same "$tmp/i1/ckpt/ckpt-00000000.h5" "$tmp/i6/ckpt/ckpt-00000000.h5" init_1x1_equals_2x3
    $CK init "$tmp/i6/ckpt/ckpt-00000000.h5" init_philox_oracle
else
    failrun init $? "$tmp/i6.log"
fi

# ---- cotsnet info -------------------------------------------------------------------------------------
info() { # NAME EXPECTED-EXIT FILE [grep patterns...]: exit status, one error line when refused, patterns
    name=$1; want=$2; f=$3; shift 3
    "$BIN" info $INFO_OPT "$f" > "$tmp/info.out" 2> "$tmp/info.err"
    rc=$?
    if [ $rc -ne "$want" ]; then echo "FAIL $name: exit $rc, expected $want: $(head -c 300 "$tmp/info.err")"; return; fi
    if [ "$want" -ne 0 ] && [ "$(wc -l < "$tmp/info.err")" -ne 1 ]; then
        echo "FAIL $name: $(wc -l < "$tmp/info.err") error lines: $(head -c 300 "$tmp/info.err")"; return
    fi
    for p in "$@"; do
        if ! grep -q -- "$p" "$tmp/info.out" "$tmp/info.err"; then echo "FAIL $name: no line matching '$p'"; return; fi
    done
    echo "ok $name"
}
params=$("$BIN" check $JOB | sed -n 's/^ *parameters: //p')
INFO_OPT=
info info_checkpoint 0 "$tmp/g4/$ck10" "cotsnet checkpoint, format version 1" "job  *ckpt-test, seed 23" \
    "step  *10: phase done" "written on  *grid 1 x 2 x 2" "/stage1/filters  *\[12,10,4,5,5,2\]  *float32" \
    "/stage2/decoder_momentum .* state" "/head/bias  *\[3\]" "parameters  *$params (optimizer state: $params more"
info info_checkpoint_regridded 0 "$tmp/re1x3/ckpt-00000010.h5" "written on  *grid 1 x 1 x 3"
info info_checkpoint_mid_rica 0 "$tmp/b1/ckpt/ckpt-00000004.h5" "step  *4: phase rica, stage 2, 1 steps into the stage"
info info_shard 0 "$tmp/shard.h5" "cotsnet shard, format version 1" "/images  *\[5,6,7,2\]  *uint8" \
    "source .*t_ckpt test shard" "attribute mean  *100$" "attribute std  *50$" "attribute classes  *3$" \
    "valid  *5 samples of 6x7x2 uint8, labelled (3 classes)"
info info_empty_file 2 "$tmp/empty.h5" "info: $tmp/empty.h5: not a readable HDF5 file"
info info_truncated_file 2 "$tmp/trunc.h5" "info: $tmp/trunc.h5: not a readable HDF5 file"
echo "not HDF5" > "$tmp/text.h5"
info info_not_hdf5 2 "$tmp/text.h5" "not a readable HDF5 file"
info info_missing_file 2 "$tmp/i1.h5.missing" "no such file"
$PY -c "import h5py,sys; h5py.File(sys.argv[1],'w').create_dataset('x', data=[1])" "$tmp/other.h5"
info info_other_hdf5 2 "$tmp/other.h5" "neither a cotsnet checkpoint nor a shard"
# the root's metadata checksum fails: corrupted, not "neither a checkpoint nor a shard"
$CK damage "$tmp/ch/ckpt/ckpt-00000001.h5" "$tmp/root.h5" root_header
info info_corrupted_root 2 "$tmp/root.h5" "info: $tmp/root.h5: the attributes of / cannot be read: the file is corrupted (.*checksum"
INFO_OPT=--verify
info info_verify_intact 0 "$tmp/ch/ckpt/ckpt-00000001.h5" "verified  *12 chunks of 6 datasets read back, checksums ok"
info info_verify_corrupted 1 "$tmp/bad.h5" "info: $tmp/bad.h5: /stage1/filters: the chunk at \[2,2,0,0,0,0\] cannot be read"

# A file system that fills up during a checkpoint: MPI-IO loses the writes without telling HDF5 (Open MPI's
# ompio prints its own lines; the run used to go on, "saving" empty checkpoints, and exit 0). Each
# checkpoint is now read back before it takes its name: one line, status 1, no .partial left, and the
# checkpoints written before all load. Needs a small tmpfs (root, mount allowed), else skipped.
full="$tmp/full"
mkdir -p "$full"
if mount -t tmpfs -o size=700k tmpfs "$full" 2>/dev/null; then
    timeout 120 $MPIRUN -np 4 "$BIN" train $JOB --set run.out_dir="$tmp/fullrun" --set grid.rows=2 --set grid.cols=2 \
        --set checkpoint.dir="$full/ck" --set checkpoint.every=1 --set checkpoint.keep=10 >"$tmp/full.out" 2>"$tmp/full.err"
    rc=$?
    n=$(grep -c "cotsnet:" "$tmp/full.err")
    saved=$(grep -c "^checkpoint" "$tmp/full.out")
    files=$(ls "$full/ck" | grep -c "^ckpt-[0-9]*\.h5$")
    loads=0
    for f in "$full"/ck/ckpt-*.h5; do "$BIN" info --verify "$f" >/dev/null 2>&1 && loads=$((loads + 1)); done
    if [ $rc -eq 1 ] && [ "$n" -eq 1 ] && grep -q "^cotsnet: error: checkpoint $full/ck/ckpt-[0-9]*\.h5\.partial: written, .*the file system may be full; the partial file is removed and the checkpoints before it are kept" "$tmp/full.err" &&
        [ "$saved" -ge 1 ] && [ "$saved" -lt 10 ] && [ "$files" -eq "$saved" ] && [ "$loads" -eq "$saved" ] &&
        [ -z "$(ls "$full/ck" | grep partial)" ]; then
        echo "ok ckpt_disk_full_one_line ($saved checkpoints kept, all load)"
    else
        echo "FAIL ckpt_disk_full_one_line: rc $rc, $n lines, $saved announced, $files files, $loads load: $(grep cotsnet "$tmp/full.err" | head -c 400)"
    fi
    umount "$full"
    # the run directory full (checkpoints elsewhere): metrics.jsonl and filters.png each get one warning,
    # the picture is not left half written, and training goes on to the end (status 0)
    mount -t tmpfs -o size=4k tmpfs "$full"
    timeout 120 $MPIRUN -np 2 "$BIN" train $JOB --set run.out_dir="$full/run" --set grid.cols=2 \
        --set checkpoint.dir="$tmp/fullck" --set stage1.steps=30 >"$tmp/fullm.out" 2>"$tmp/fullm.err"
    rc=$?
    if [ $rc -eq 0 ] && [ "$(wc -l <"$tmp/fullm.err")" -eq 2 ] &&
        grep -q "^cotsnet: warning: writing $full/run/metrics.jsonl failed (No space left on device); no more metrics lines" "$tmp/fullm.err" &&
        grep -q "^cotsnet: warning: writing $full/run/filters.png failed (No space left on device); removed" "$tmp/fullm.err" &&
        [ ! -e "$full/run/filters.png" ] && [ -s "$tmp/fullck/ckpt-00000037.h5" ]; then
        echo "ok run_dir_full_warns"
    else
        echo "FAIL run_dir_full_warns: rc $rc: $(head -c 400 "$tmp/fullm.err"); $(ls "$full/run" "$tmp/fullck" | tr '\n' ' ')"
    fi
    umount "$full"
else
    echo "skip ckpt_disk_full_one_line: cannot mount a small tmpfs here (needs root and mount permission)"
    echo "skip run_dir_full_warns: cannot mount a small tmpfs here"
fi

# Two runs in one run directory (the same job submitted twice; slurm/train.sh always resumes): the second
# stops before it reads anything, with one line naming the first (host, pid, Slurm job), status 2; so
# does a run with its own run directory but the first one's checkpoint directory; a run of the same
# Slurm job goes on with a warning; once the first is killed (-9: no clean-up of its own), the kernel
# has dropped its lock and a run resumes there.
SLURM_JOB_ID=4242 "$BIN" train $JOB --set run.out_dir="$tmp/lock" --set stage1.steps=1000000 --set run.log_every=100000 \
    >"$tmp/lockA.out" 2>&1 &
pidA=$!
i=0
while [ $i -lt 200 ] && ! grep -q "pid $pidA" "$tmp/lock/ckpt/.cotsnet.lock" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
timeout 60 env -u SLURM_JOB_ID $MPIRUN -np 2 "$BIN" train $JOB --set run.out_dir="$tmp/lock" --set grid.cols=2 \
    --resume auto >"$tmp/lockB.out" 2>"$tmp/lockB.err"
rcB=$?
# the same Slurm job (a requeued run whose node's lock the file system still holds): a warning, and on
# (here to a checkpoint that does not exist: status 1 with its own line, nothing written)
SLURM_JOB_ID=4242 timeout 60 "$BIN" train $JOB --set run.out_dir="$tmp/lock" --resume "$tmp/lock/none.h5" \
    >"$tmp/lockE.out" 2>"$tmp/lockE.err"
rcE=$?
SLURM_JOB_ID=4243 timeout 60 "$BIN" train $JOB --set run.out_dir="$tmp/lock2" --set checkpoint.dir="$tmp/lock/ckpt" \
    --resume auto >"$tmp/lockC.out" 2>"$tmp/lockC.err"
rcC=$?
alive=0; kill -0 $pidA 2>/dev/null && alive=1
kill -9 $pidA 2>/dev/null; wait $pidA 2>/dev/null
timeout 60 "$BIN" train $JOB --set run.out_dir="$tmp/lock" --resume auto >"$tmp/lockD.out" 2>"$tmp/lockD.err"
rcD=$?
if [ $alive -eq 1 ] && [ $rcB -eq 2 ] && [ "$(grep -c "cotsnet:" "$tmp/lockB.err")" -eq 1 ] &&
    grep -q "^cotsnet: error: \[run\] out_dir: '$tmp/lock' is in use by another run (host .*, pid $pidA, Slurm job 4242, since .*): two runs there" "$tmp/lockB.err" &&
    [ $rcE -eq 1 ] && grep -q "^cotsnet: warning: \[run\] out_dir: '$tmp/lock' is locked by an earlier run of this Slurm job (host .*, pid $pidA, Slurm job 4242, since" "$tmp/lockE.err" &&
    ! grep -q "in use by another run" "$tmp/lockE.err" &&
    ! grep -q "^rica" "$tmp/lockB.out" &&
    [ $rcC -eq 2 ] && grep -q "^cotsnet: error: \[checkpoint\] dir: '$tmp/lock/ckpt' is in use by another run (host .*, pid $pidA" "$tmp/lockC.err" &&
    [ $rcD -eq 0 ] && [ ! -s "$tmp/lockD.err" ] && grep -q "^checkpoint $tmp/lock/ckpt/ckpt-00000010.h5" "$tmp/lockD.out"; then
    echo "ok run_dir_locked"
else
    echo "FAIL run_dir_locked: first alive $alive; second rc $rcB: $(head -c 300 "$tmp/lockB.err"); same Slurm job rc $rcE: $(head -c 300 "$tmp/lockE.err"); other run dir rc $rcC: $(head -c 300 "$tmp/lockC.err"); after kill rc $rcD: $(head -c 300 "$tmp/lockD.err")"
fi
