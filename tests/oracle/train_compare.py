#!/usr/bin/python3
"""train_compare.py: two training runs of one job agree (tests/t_cuda_train_emu.sh, bench/gpu_check.sh).

  train_compare.py NAME LINES LOG_A LOG_B CKPT_A CKPT_B

Run A is the reference (the CPU backend), run B the one checked (the CUDA backend). From each log: the
loss lines ("rica|head|finetune stage S step N/T loss L ...") and eval lines ("eval WHEN step N test
accuracy A"); there must be LINES of them in both, in the same order, the losses within 1e-5 relative
and the accuracies equal. Every dataset of checkpoint A must be in B with the same shape and within
1e-5 relative (normwise), and the cursor attributes equal. Prints one line: "ok NAME (...)" or
"FAIL NAME: why"; exits 1 on FAIL.
"""
import sys

import h5py
import numpy as np

TOL = 1e-5


def lines(path):
    out = []
    for line in open(path, errors="replace"):
        w = line.split()
        if len(w) >= 7 and w[0] in ("rica", "head", "finetune") and w[1] == "stage" and w[5] == "loss":
            out.append((w[0], w[2], w[4], float(w[6])))
        elif len(w) >= 7 and w[0] == "eval" and w[4] == "test" and w[5] == "accuracy":
            out.append(("eval", w[1], w[3], float(w[6])))
    return out


def main(argv):
    name, want, log_a, log_b, ck_a, ck_b = argv[1:7]
    bad = []
    A, B = lines(log_a), lines(log_b)
    if len(A) != int(want) or len(B) != len(A):
        bad.append(f"{len(B)} loss/eval lines, the reference has {len(A)}, expected {want}")
    for x, y in zip(A, B):
        if x[:3] != y[:3]:
            bad.append(f"line {y[:3]} where the reference has {x[:3]}")
        elif x[0] == "eval" and x[3] != y[3]:
            bad.append(f"eval {x[1]}: accuracy {y[3]} vs {x[3]}")
        elif abs(x[3] - y[3]) > TOL * max(abs(x[3]), 1e-30):
            bad.append(f"{x[0]} stage {x[1]} step {x[2]}: loss {y[3]!r} vs {x[3]!r}")
    worst, n = 0.0, 0
    try:
        with h5py.File(ck_a, "r") as fa, h5py.File(ck_b, "r") as fb:
            names = []
            fa.visititems(lambda k, o: names.append(k) if isinstance(o, h5py.Dataset) else None)
            n = len(names)
            if n < 4:
                bad.append(f"only {n} datasets in {ck_a}")
            for k in names:
                if k not in fb:
                    bad.append(f"{k} missing")
                    continue
                x, y = fa[k][...].astype(np.float64), fb[k][...].astype(np.float64)
                d = np.linalg.norm(x)
                e = np.linalg.norm(x - y) / (d if d > 0 else 1) if x.shape == y.shape else np.inf
                worst = max(worst, e)
                if not e <= TOL:
                    bad.append(f"{k}: relative error {e:.3e}")
            for k in ("step", "phase", "stage", "phase_step", "sample_cursor"):
                if fa.attrs[k] != fb.attrs[k]:
                    bad.append(f"attribute {k}: {fb.attrs[k]} vs {fa.attrs[k]}")
    except (OSError, KeyError) as ex:
        bad.append(f"checkpoint: {ex}")
    if bad:
        print(f"FAIL {name}: " + "; ".join(bad[:6]))
        return 1
    print(f"ok {name} ({len(A)} loss/eval lines within {TOL:g}, {n} datasets of {ck_b.split('/')[-1]}, worst {worst:.1e})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
