#!/bin/sh
# t_fused.sh: optimizer.fused (plain SGD applied inside the filters' backward pass, no gradient kept on
# the GPU) on the CPU backend, with tests/jobs/dist.ini (two stages, a tied and a separate decoder,
# head, fine-tuning) on a 1x2 grid. The GPU side is tests/t_cuda_train_emu.sh (cuda_train_fused_1x2).
#   fused_equals_sgd      fused training = unfused SGD with momentum 0: the same loss lines (text) and
#                         bit-identical filters, decoder and head in the final checkpoint;
#   fused_ckpt_no_state   the fused checkpoint has no filter or decoder optimizer state (the head's
#                         plain SGD keeps its own), and `cotsnet info` reads it;
#   fused_resume          resumed from its step-6 checkpoint, the fused run ends bit-identical to the
#                         uninterrupted one;
#   fused_resume_unfused  an unfused job refuses the fused checkpoint: one error line naming the missing
#                         state, non-zero exit, the checkpoint untouched;
#   fused_refused_*       fused with momentum, with AdaGrad, with 2 replicas: one error line each;
#   fused_sizing          `cotsnet info --params` counts no gradient and no state for the filters under
#                         fused on the GPU backend, a gradient and no state on the CPU backend.
set -u
. tests/dist_env.sh # BUILD BIN PY JOB MPIRUN tmp, one thread per rank

# train DIR [args]: the job on a 1x2 grid, a checkpoint every 6 steps
train() {
    d=$1
    shift
    timeout 120 $MPIRUN -np 2 "$BIN" train $JOB --set run.out_dir="$d" --set grid.rows=1 --set grid.cols=2 \
        --set checkpoint.every=6 --set train.eval_batches=3 --set optimizer.momentum=0 --set run.log_every=1 "$@" \
        >"$d.log" 2>&1
}

# same_params NAME A B: /stage*/filters, /stage*/decoder, /head/weights and /head/bias bit-identical
same_params() {
    $PY - "$@" <<'EOF'
import sys, h5py, numpy as np
name, a, b = sys.argv[1:4]
fa, fb = h5py.File(a, "r"), h5py.File(b, "r")
keys = [f"stage{k}/{t}" for k in range(1, 9) for t in ("filters", "decoder") if f"stage{k}/{t}" in fa]
keys += ["head/weights", "head/bias"]
bad = [k for k in keys if k not in fb or fa[k].shape != fb[k].shape or not np.array_equal(fa[k][()], fb[k][()])]
print(f"FAIL {name}: differ: {bad}" if bad or len(keys) < 5 else f"ok {name} ({len(keys)} tensors bit-identical)")
EOF
}

train "$tmp/sgd" || echo "FAIL fused_reference: $(tail -3 "$tmp/sgd.log")"
if train "$tmp/fused" --set optimizer.fused=yes; then
    la=$(losses "$tmp/sgd.log"); lb=$(losses "$tmp/fused.log")
    n=$(echo "$lb" | grep -c .)
    if [ -n "$la" ] && [ "$la" = "$lb" ] && [ "$n" -eq 12 ]; then
        same_params fused_equals_sgd "$tmp/sgd/ckpt/ckpt-00000012.h5" "$tmp/fused/ckpt/ckpt-00000012.h5"
    else
        echo "FAIL fused_equals_sgd: loss lines differ ($n fused lines): $(echo "$lb" | head -3)"
    fi
else
    echo "FAIL fused_equals_sgd: the run failed: $(tail -3 "$tmp/fused.log")"
fi

ck="$tmp/fused/ckpt/ckpt-00000012.h5"
$PY - "$ck" <<'EOF'
import sys, h5py
f = h5py.File(sys.argv[1], "r")
names = []
f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
state = [n for n in names if n.startswith("stage") and ("momentum" in n or "adagrad" in n)]
want = {"stage1/filters", "stage2/filters", "stage2/decoder", "head/weights_momentum", "head/bias_momentum"}
print(f"FAIL fused_ckpt_no_state: state {state}, missing {want - set(names)}" if state or want - set(names)
      else f"ok fused_ckpt_no_state ({len(names)} datasets, no filter state)")
EOF
if ! "$BIN" info "$ck" >"$tmp/info.log" 2>&1; then echo "FAIL fused_ckpt_info: $(tail -2 "$tmp/info.log")"; fi

# resume the fused run from step 6: the same end, bit for bit
if train "$tmp/res" --set optimizer.fused=yes --resume "$tmp/fused/ckpt/ckpt-00000006.h5" &&
    grep -q "resuming from .*ckpt-00000006.h5 at step 6" "$tmp/res.log"; then
    la=$(losses "$tmp/fused.log" | tail -n +7); lb=$(losses "$tmp/res.log")
    if [ "$la" = "$lb" ]; then same_params fused_resume "$ck" "$tmp/res/ckpt/ckpt-00000012.h5"
    else echo "FAIL fused_resume: loss lines differ: $(echo "$lb" | head -2)"; fi
else
    echo "FAIL fused_resume: the run failed: $(tail -3 "$tmp/res.log")"
fi

# an unfused job cannot take a fused checkpoint (no momentum in it): one line, the file untouched
sum0=$(md5sum <"$ck")
train "$tmp/unf" --resume "$ck"
rc=$?
n=$(grep -c "cotsnet: error" "$tmp/unf.log")
if [ $rc -ne 0 ] && [ $rc -lt 124 ] && [ "$n" -eq 1 ] && grep -q "momentum is missing" "$tmp/unf.log" &&
    [ "$(md5sum <"$ck")" = "$sum0" ]; then
    echo "ok fused_resume_unfused"
else
    echo "FAIL fused_resume_unfused: rc $rc, $n error lines: $(grep -m2 error "$tmp/unf.log")"
fi

# refusals at load: one line each, nothing run
refuse() {
    name=$1 want=$2
    shift 2
    "$BIN" train $JOB --set optimizer.fused=yes "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
    rc=$?
    n=$(grep -c . "$tmp/$name.err")
    if [ $rc -ne 0 ] && [ "$n" -eq 1 ] && grep -q "\[optimizer\] fused: needs $want" "$tmp/$name.err" &&
        ! grep -q "step" "$tmp/$name.out"; then
        echo "ok $name"
    else
        echo "FAIL $name: rc $rc, $n lines: $(head -c 400 "$tmp/$name.err")"
    fi
}
refuse fused_refused_momentum "momentum = 0" --set run.out_dir="$tmp/r1"
refuse fused_refused_adagrad "type = sgd" --set optimizer.type=adagrad --set optimizer.momentum=0 --set run.out_dir="$tmp/r2"
refuse fused_refused_replicas "replicas = 1" --set optimizer.momentum=0 --set grid.replicas=2 --set run.out_dir="$tmp/r3"

# sizing: stage rows "parameters gradients optimizer ..." in MiB
mem() { "$BIN" info --params $JOB --grid 1x2 --set optimizer.momentum=0 "$@" | awk '$1 == "stage" && $2 == "1" {print $3, $4, $5}'; }
cpu=$(mem --set optimizer.fused=yes); gpu=$(mem --set optimizer.fused=yes --set run.backend=cuda); unf=$(mem)
set -- $unf
p=$1
if [ -n "$unf" ] && [ "$unf" = "$p $p $p" ] && [ "$cpu" = "$p $p 0.00" ] && [ "$gpu" = "$p 0.00 0.00" ]; then
    echo "ok fused_sizing (stage 1 MiB params/grads/state: sgd $unf; fused cpu $cpu; fused cuda $gpu)"
else
    echo "FAIL fused_sizing: sgd '$unf', fused cpu '$cpu', fused cuda '$gpu'"
fi
